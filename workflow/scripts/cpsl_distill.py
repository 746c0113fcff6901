import checkout_path  # noqa: F401  (makes this checkout's pipeline_lib importable)
from pipeline_lib.jobs import cpsl_distill
from pipeline_lib.joblog import job_log

with job_log(snakemake.log[0]):
    cpsl_distill.run(
        snakemake.input.teacher,
        snakemake.input.pseudo_labels,
        snakemake.input.source,
        snakemake.input.target,
        snakemake.output.model,
        snakemake.output.train_log,
        snakemake.params.state_dir,
        stage=int(snakemake.wildcards.stage),
        settings=snakemake.params.settings,
        imagenet_weights=snakemake.params.imagenet_weights,
        engine=snakemake.params.engine,
        compute=snakemake.params.compute,
        threads=snakemake.threads,
    )
