import checkout_path  # noqa: F401  (makes this checkout's pipeline_lib importable)
from pipeline_lib.jobs import cpsl_warmup
from pipeline_lib.joblog import job_log

with job_log(snakemake.log[0]):
    cpsl_warmup.run(snakemake.input.model, snakemake.output.model, released=snakemake.params.released)
