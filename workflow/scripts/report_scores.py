import checkout_path  # noqa: F401  (makes this checkout's pipeline_lib importable)
from pipeline_lib.jobs import report_scores
from pipeline_lib.joblog import job_log

with job_log(snakemake.log[0]):
    report_scores.run(
        list(snakemake.input.results),
        snakemake.params.finals,
        snakemake.output.plot,
        snakemake.output.table,
        snakemake.output.table_csv,
        starts=snakemake.params.starts,
        papers=snakemake.input.papers,
        source=snakemake.config["source"],
    )
