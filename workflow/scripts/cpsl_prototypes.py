import checkout_path  # noqa: F401  (makes this checkout's pipeline_lib importable)
from pipeline_lib.jobs import cpsl_prototypes
from pipeline_lib.joblog import job_log

with job_log(snakemake.log[0]):
    cpsl_prototypes.run(
        snakemake.input.model,
        snakemake.input.file_list,
        snakemake.output.prototypes,
        settings=snakemake.params.settings,
        compute=snakemake.params.compute,
        threads=snakemake.threads,
    )
