import checkout_path  # noqa: F401  (makes this checkout's pipeline_lib importable)
from pipeline_lib.jobs import report_targets
from pipeline_lib.joblog import job_log

with job_log(snakemake.log[0]):
    report_targets.run(
        list(snakemake.input.results),
        snakemake.params.runs,
        snakemake.params.datasets,
        snakemake.output.table_csv,
        snakemake.output.table,
    )
