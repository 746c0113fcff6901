"""Figures and tables of the Snakemake report (``snakemake --report report.html``; rules/report.smk).

- ``runs``: which results the report shows, read from the workflow's default targets;
- ``plots``: mIoU per round/stage and the per-class IoU table (matplotlib Agg, pandas);
- ``pseudo_labels``: per-round pseudo-label statistics of the self-training methods;
- ``panels``: qualitative panels in the Cityscapes palette;
- ``training``, ``job_times``: training curves and job times per method;
- ``papers``: the papers' published numbers beside the runs;
- ``figure_files``: PNGs at a size the report viewer shows whole.

Everything here takes and returns data (dicts, arrays, DataFrames, matplotlib Figures); the jobs in
``pipeline_lib.jobs.report_*`` read and write the files.
"""
