import checkout_path  # noqa: F401  (makes this checkout's pipeline_lib importable)
from pipeline_lib.jobs import selftrain_predict
from pipeline_lib.joblog import job_log

with job_log(snakemake.log[0]):
    selftrain_predict.run(
        snakemake.input.model,
        snakemake.input.file_list,
        snakemake.input.get("prior") or None,
        snakemake.output.store,
        snakemake.output.histogram,
        shard=int(snakemake.wildcards.shard),
        shards=snakemake.params.shards,
        prediction=snakemake.params.prediction,
        sisc=snakemake.params.sisc,
        seed=snakemake.params.seed,
        round_index=int(snakemake.wildcards.round),
        compute=snakemake.params.compute,
        threads=snakemake.threads,
    )
