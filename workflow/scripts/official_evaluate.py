import checkout_path  # noqa: F401  (makes this checkout's pipeline_lib importable)
from pipeline_lib.jobs import official_evaluate
from pipeline_lib.joblog import job_log

with job_log(snakemake.log[0]):
    official_evaluate.run(
        snakemake.input.label_ids,
        snakemake.input.file_list,
        snakemake.input.miou,
        snakemake.params.cityscapes_root,
        snakemake.output[0],
    )
