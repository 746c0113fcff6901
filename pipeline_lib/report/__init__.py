"""Figures and tables of the Snakemake report (``snakemake --report report.html``; rules/report.smk).

- ``runs``: which results the report shows, read from the workflow's default targets;
- ``plots``: mIoU per round/stage and the per-class IoU table (matplotlib Agg, pandas);
- ``pseudo_labels``: per-round pseudo-label statistics of the self-training methods;
- ``panels``: qualitative panels in the Cityscapes palette.

Everything here takes and returns data (dicts, arrays, DataFrames, matplotlib Figures); the jobs in
``pipeline_lib.jobs.report_*`` read and write the files.
"""
