import checkout_path  # noqa: F401  (makes this checkout's pipeline_lib importable)
from pipeline_lib.jobs import selftrain_target_list
from pipeline_lib.joblog import job_log

with job_log(snakemake.log[0]):
    selftrain_target_list.run(snakemake.input.reference_list, snakemake.input.train_list, snakemake.output.file_list)
