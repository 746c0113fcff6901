import checkout_path  # noqa: F401  (makes this checkout's pipeline_lib importable)
from pipeline_lib.jobs import cpsl_train_warmup
from pipeline_lib.joblog import job_log

with job_log(snakemake.log[0]):
    cpsl_train_warmup.run(
        snakemake.input.source,
        snakemake.input.target,
        snakemake.output.model,
        snakemake.output.train_log,
        snakemake.params.state_dir,
        model_config=snakemake.params.model,
        cpsl=snakemake.params.cpsl,
        engine=snakemake.params.engine,
        compute=snakemake.params.compute,
        threads=snakemake.threads,
        processes=max(1, snakemake.resources.gpu),
    )
