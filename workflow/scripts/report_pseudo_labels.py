import checkout_path  # noqa: F401  (makes this checkout's pipeline_lib importable)
from pipeline_lib.jobs import report_pseudo_labels
from pipeline_lib.joblog import job_log

with job_log(snakemake.log[0]):
    report_pseudo_labels.run(
        list(snakemake.input.thresholds),
        list(snakemake.input.pseudo_lists),
        list(snakemake.input.stores),
        snakemake.input.target_list,
        snakemake.input.prior or None,
        snakemake.output.stats,
        snakemake.output.figure,
        snakemake.output.panels,
        method=snakemake.wildcards.method,
        rounds=snakemake.params.rounds,
        panel_images=snakemake.params.panel_images,
    )
