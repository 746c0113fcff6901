import checkout_path  # noqa: F401  (makes this checkout's pipeline_lib importable)
from pipeline_lib.jobs import summarize
from pipeline_lib.joblog import job_log

with job_log(snakemake.log[0]):
    summarize.run(
        list(snakemake.input.results),
        snakemake.output.summary,
        snakemake.output.seeds,
        papers=snakemake.input.papers,
        source=snakemake.config["source"],
    )
