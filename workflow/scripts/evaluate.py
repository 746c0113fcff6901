import checkout_path  # noqa: F401  (makes this checkout's pipeline_lib importable)
from pipeline_lib import seeds
from pipeline_lib.jobs import evaluate
from pipeline_lib.joblog import job_log

with job_log(snakemake.log[0]):
    evaluate.run(
        snakemake.input.model,
        snakemake.input.file_list,
        snakemake.output.miou,
        snakemake.output.per_class,
        snakemake.output.visuals,
        snakemake.output.label_ids,
        evaluation=snakemake.params.evaluation,
        compute=snakemake.params.compute,
        config=snakemake.config,  # provenance only: not a param, so other methods' settings do not re-run scoring
        method=snakemake.wildcards.run,
        dataset=snakemake.params.dataset,
        seed=seeds.seed_of(snakemake.wildcards.seed_dir),
        threads=snakemake.threads,
    )
