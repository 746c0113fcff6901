import checkout_path  # noqa: F401  (makes this checkout's pipeline_lib importable)
from pipeline_lib.jobs import train_source
from pipeline_lib.joblog import job_log

with job_log(snakemake.log[0]):
    train_source.run(
        snakemake.input.file_list,
        snakemake.output.model,
        snakemake.output.train_log,
        snakemake.params.state_dir,
        model_config=snakemake.params.model,
        training=snakemake.params.training,
        compute=snakemake.params.compute,
        threads=snakemake.threads,
        processes=max(1, snakemake.resources.gpu),
    )
