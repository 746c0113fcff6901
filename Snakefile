"""udaflow: unsupervised domain adaptation for semantic segmentation, one file-producing job per step."""

from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version, validate

from pipeline_lib.engine import cpu_code_path
from pipeline_lib.run_messages import config_error, error_message, success_message

min_version("9.0")


configfile: "config.yaml"


try:
    validate(config, "workflow/schemas/config.schema.yaml")
except WorkflowError as err:
    raise WorkflowError(config_error(err)) from None

# Every job started from here inherits the CPU code path (the libraries read it when they load).
cpu_code_path.apply(config["compute"]["cpu_code_path"])


report: "workflow/report/workflow.rst"


include: "rules/common.smk"
include: "rules/demo.smk"
include: "rules/labels.smk"
include: "rules/source.smk"
include: "rules/evaluate.smk"
include: "rules/self_training.smk"
include: "rules/adaptseg.smk"
include: "rules/dasac.smk"
include: "rules/cpsl.smk"
include: "rules/report.smk"


onstart:
    print(
        f"udaflow: source {config['source']} -> cityscapes, model {config['model']['arch']}, "
        f"CPU code path {config['compute']['cpu_code_path']}"
    )


onsuccess:
    print(success_message(Path.cwd(), log))


onerror:
    print(error_message(Path.cwd(), log))


rule all:
    default_target: True
    input:
        lambda wildcards: seed_paths.for_seeds(DEFAULT_TARGETS, SEEDS),
        "results/summary.csv",
        REPORT_TARGETS,
