import checkout_path  # noqa: F401  (makes this checkout's pipeline_lib importable)
from pipeline_lib.jobs import generate_demo
from pipeline_lib.joblog import job_log

with job_log(snakemake.log[0]):
    generate_demo.run(snakemake.output[0], snakemake.params.spec)
