import checkout_path  # noqa: F401  (makes this checkout's pipeline_lib importable)
from pipeline_lib.jobs import selftrain_thresholds
from pipeline_lib.joblog import job_log

with job_log(snakemake.log[0]):
    selftrain_thresholds.run(
        list(snakemake.input.histograms),
        snakemake.output.thresholds,
        policy=snakemake.params.policy,
        portion=snakemake.params.portion,
    )
