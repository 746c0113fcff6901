import checkout_path  # noqa: F401  (makes this checkout's pipeline_lib importable)
from pipeline_lib.jobs import report_training
from pipeline_lib.joblog import job_log

with job_log(snakemake.log[0]):
    report_training.run(
        list(snakemake.input),
        snakemake.params.runs,
        snakemake.output.curves,
        starts=snakemake.params.starts,
        times_out=snakemake.output.times,
    )
