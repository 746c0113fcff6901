"""udaflow: unsupervised domain adaptation for semantic segmentation, one file-producing job per step."""

from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")


include: "rules/common.smk"
include: "rules/demo.smk"
include: "rules/labels.smk"
include: "rules/source.smk"
include: "rules/evaluate.smk"
include: "rules/self_training.smk"
include: "rules/adaptseg.smk"
include: "rules/dasac.smk"


onstart:
    print(
        f"udaflow: source {config['source']} -> cityscapes, model {config['model']['arch']}"
    )


onsuccess:
    print(
        "udaflow finished: scores in results/<method>/.../miou.json, job logs in logs/."
    )


onerror:
    print(
        "udaflow stopped on an error: the failing job's log (path above) says why; logs/ holds every job's log."
    )


rule all:
    default_target: True
    input:
        DEFAULT_TARGETS,
        "results/summary.csv",
