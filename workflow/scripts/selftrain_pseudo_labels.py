import checkout_path  # noqa: F401  (makes this checkout's pipeline_lib importable)
from pipeline_lib.jobs import selftrain_pseudo_labels
from pipeline_lib.joblog import job_log

with job_log(snakemake.log[0]):
    selftrain_pseudo_labels.run(
        snakemake.input.store,
        snakemake.input.thresholds,
        snakemake.input.get("prior") or None,
        snakemake.output.labels,
        snakemake.output.file_list,
    )
