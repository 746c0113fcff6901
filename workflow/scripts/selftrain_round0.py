import checkout_path  # noqa: F401  (makes this checkout's pipeline_lib importable)
from pipeline_lib.jobs import selftrain_round0
from pipeline_lib.joblog import job_log

with job_log(snakemake.log[0]):
    selftrain_round0.run(snakemake.input.model, snakemake.output.model, num_classes=snakemake.params.num_classes)
