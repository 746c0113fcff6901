import checkout_path  # noqa: F401  (makes this checkout's pipeline_lib importable)
from pipeline_lib.jobs import dasac_train
from pipeline_lib.joblog import job_log

with job_log(snakemake.log[0]):
    dasac_train.run(
        snakemake.input.source,
        snakemake.input.target,
        snakemake.input.baseline,
        snakemake.input.weights,
        snakemake.output.model,
        snakemake.output.train_log,
        snakemake.params.state_dir,
        source=snakemake.params.source,
        settings=snakemake.params.settings,
        backbone=snakemake.params.backbone,
        uniform_prior=snakemake.params.uniform_prior,
        engine=snakemake.params.engine,
        compute=snakemake.params.compute,
        threads=snakemake.threads,
    )
