import checkout_path  # noqa: F401  (makes this checkout's pipeline_lib importable)
from pipeline_lib.jobs import dasac_importance_weights
from pipeline_lib.joblog import job_log

with job_log(snakemake.log[0]):
    dasac_importance_weights.run(
        snakemake.input.model,
        snakemake.input.target,
        snakemake.output[0],
        compute=snakemake.params.compute,
        threads=snakemake.threads,
    )
