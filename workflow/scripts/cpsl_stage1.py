import checkout_path  # noqa: F401  (makes this checkout's pipeline_lib importable)
from pipeline_lib.jobs import cpsl_stage1
from pipeline_lib.joblog import job_log

with job_log(snakemake.log[0]):
    cpsl_stage1.run(
        snakemake.input.warmup,
        snakemake.input.soft_labels,
        snakemake.input.prototypes,
        snakemake.input.class_distribution,
        snakemake.input.source,
        snakemake.input.target,
        snakemake.output.model,
        snakemake.output.prototypes,
        snakemake.output.train_log,
        snakemake.params.state_dir,
        settings=snakemake.params.settings,
        engine=snakemake.params.engine,
        compute=snakemake.params.compute,
        threads=snakemake.threads,
    )
