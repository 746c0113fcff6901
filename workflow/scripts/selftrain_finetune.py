import checkout_path  # noqa: F401  (makes this checkout's pipeline_lib importable)
from pipeline_lib.jobs import selftrain_finetune
from pipeline_lib.joblog import job_log

with job_log(snakemake.log[0]):
    selftrain_finetune.run(
        snakemake.input.model,
        snakemake.input.get("heads") or None,
        snakemake.input.source_list,
        list(snakemake.input.target_lists),
        snakemake.input.thresholds,
        snakemake.output.model,
        snakemake.output.heads,
        snakemake.output.train_log,
        snakemake.params.state_dir,
        round_index=int(snakemake.wildcards.round),
        method=snakemake.params.method,
        settings=snakemake.params.training,
        mining=snakemake.params.mining,
        mlsl=snakemake.params.mlsl,
        source_portions=snakemake.params.source_portions,
        source_sample_policy=snakemake.params.source_sample_policy,
        seed=snakemake.params.seed,
        training_common=snakemake.params.training_common,
        compute=snakemake.params.compute,
        threads=snakemake.threads,
        processes=max(1, snakemake.resources.gpu),
    )
