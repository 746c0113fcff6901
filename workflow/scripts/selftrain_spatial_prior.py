import checkout_path  # noqa: F401  (makes this checkout's pipeline_lib importable)
from pipeline_lib.jobs import selftrain_spatial_prior
from pipeline_lib.joblog import job_log

with job_log(snakemake.log[0]):
    selftrain_spatial_prior.run(
        snakemake.input.file_list or None,
        snakemake.output.prior,
        num_classes=snakemake.params.num_classes,
        **snakemake.params.prior,
    )
