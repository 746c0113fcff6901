import checkout_path  # noqa: F401  (makes this checkout's pipeline_lib importable)
from pipeline_lib.jobs import convert_labels
from pipeline_lib.joblog import job_log

with job_log(snakemake.log[0]):
    convert_labels.run(
        snakemake.wildcards.dataset,
        snakemake.wildcards.split,
        snakemake.params.root,
        snakemake.output.labels,
        snakemake.output.file_list,
        snakemake.output.report,
        size_mismatch=snakemake.params.size_mismatch,
        require_labels=snakemake.params.require_labels,
        demo=snakemake.params.demo,
        threads=snakemake.threads,
        options=snakemake.params.options,
    )
