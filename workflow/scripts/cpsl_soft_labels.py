import checkout_path  # noqa: F401  (makes this checkout's pipeline_lib importable)
from pipeline_lib.jobs import cpsl_soft_labels
from pipeline_lib.joblog import job_log

with job_log(snakemake.log[0]):
    cpsl_soft_labels.run(
        snakemake.input.model,
        snakemake.input.file_list,
        snakemake.output.store,
        compute=snakemake.params.compute,
        threads=snakemake.threads,
    )
