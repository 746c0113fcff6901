"""Helpers shared by the rules: dataset roots, the demo switch, wildcard constraints and targets."""

from pathlib import Path

from snakemake.exceptions import WorkflowError

from pipeline_lib import class_protocols
from pipeline_lib import seeds as seed_paths
from pipeline_lib.report import runs as report_runs
from pipeline_lib.report import targets as report_targets

DEMO_ROOT = config["demo"]["root"]
CONDA_ENV = "../envs/udaflow.yaml"
# The `gpu` resource of GPU rules (Slurm --gpus); CPU rules ask for none. Profiles may override per rule.
TRAINING_GPUS = config["compute"]["gpus_per_job"]["training"]
PREDICTION_GPUS = config["compute"]["gpus_per_job"]["prediction"]
# DA-SAC and CPSL train in one process (accumulation gives the paper's batch): at most one GPU.
SINGLE_PROCESS_TRAINING_GPUS = min(TRAINING_GPUS, 1)
# CONDA_ENV plus cityscapesScripts (pyproject extra `official`), for rule official_evaluation.
CONDA_ENV_OFFICIAL = "../envs/official.yaml"
# Every method runs once per seed; seed k's files sit under work/seed<k>/, results/seed<k>/ (seed 0: no folder).
SEEDS = config["training"]["seeds"]


# The adaptation target (config key target): every method adapts to its unlabelled train split and is
# scored on its labelled val split; evaluation.targets names further labelled datasets each result is
# also scored on (results/<run>/eval/<dataset>/miou.json).
TARGET = config["target"]
TARGET_TRAIN_SPLIT = f"data/converted/{TARGET}/train.csv"
TARGET_VAL_SPLIT = f"data/converted/{TARGET}/val.csv"
EXTRA_TARGETS = [d for d in config["evaluation"]["targets"] if d != TARGET]


wildcard_constraints:
    dataset="|".join(config["datasets"]),
    split="all|train|val",
    run=r"[a-z][a-z0-9_]*(/(round|stage)\d+)?",
    seed_dir=seed_paths.SEED_DIR_PATTERN,


def seed_of(wildcards):
    """The training seed of a job, from its ``seed_dir`` wildcard ("" = 0, "seed3/" = 3)."""
    return seed_paths.seed_of(wildcards.seed_dir)


def training_engine(wildcards):
    """The run-wide ``training`` keys every trainer takes, with the job's seed."""
    return {
        "seed": seed_of(wildcards),
        "checkpoint_every": config["training"]["checkpoint_every"],
        "log_every": config["training"]["log_every"],
    }


def demo_generates(dataset):
    """A dataset comes from the demo generator when its root is <demo.root>/<dataset> and generation is on."""
    return (
        config["demo"]["generate"]
        and Path(config["datasets"][dataset]["root"]) == Path(DEMO_ROOT) / dataset
    )


def check_dataset_roots():
    """Fail at parse time, naming each config key, when a dataset the run needs is not on disk."""
    problems = [
        f"config key datasets.{dataset}.root: folder '{root}' does not exist"
        for dataset in dict.fromkeys((config["source"], TARGET, *EXTRA_TARGETS))
        if not demo_generates(dataset)
        and not (root := Path(config["datasets"][dataset]["root"])).is_dir()
    ]
    if problems:
        raise WorkflowError(
            "\n".join(problems)
            + f"\nPoint each at its dataset, or set it to '{DEMO_ROOT}/<dataset>' with demo.generate: true."
        )


check_dataset_roots()


def check_input_files():
    """Fail at parse time, naming the config key, when a weights or list file the config names is not a
    file: a job would find out only after Snakemake had deleted the outputs it is about to replace.
    """
    self_training = config["self_training"]
    named = {
        "model.imagenet_weights": config["model"]["imagenet_weights"],
        "cpsl.distillation.student_init": config["cpsl"]["distillation"][
            "student_init"
        ],
        "self_training.round0_model": self_training["round0_model"],
        "self_training.target_list": self_training["target_list"],
        "self_training.spatial_prior.file": self_training["spatial_prior"]["file"],
    }
    problems = [
        f"config key {key}: file '{path}' does not exist"
        for key, path in named.items()
        if path and not Path(path).is_file()
    ]
    if problems:
        raise WorkflowError("\n".join(problems))


check_input_files()


def dataset_inputs(wildcards):
    """The demo folder when the workflow makes the dataset; nothing when it is already on disk."""
    return [DEMO_ROOT] if demo_generates(wildcards.dataset) else []


def source_split():
    return f"data/converted/{config['source']}/all.csv"


# The papers' published numbers shown beside the runs (a file of this checkout, not of the run).
REPORT_PAPERS = str(
    Path(report_runs.__file__).resolve().parents[2] / "workflow/report/papers.csv"
)


def method_outputs(family):
    """Outputs of a method family's networks under model.num_classes (pipeline_lib.class_protocols)."""
    return class_protocols.method_outputs(
        config["model"]["num_classes"], config["source"], family
    )


def method_model(family):
    """The model section a family's training job builds from: config's, with the family's outputs."""
    return {**config["model"], "num_classes": method_outputs(family)}


def source_run(family):
    """The source-only run (source | source_compact16) whose width a family's networks have."""
    return class_protocols.source_run(method_outputs(family))


# Seed 0's result files of `snakemake` without a target (rule all asks for them once per seed); the
# source-only model of every width the methods use; each method's rules file appends its own.
DEFAULT_TARGETS = [
    f"results/{class_protocols.source_run(outputs)}/miou.json"
    for outputs in sorted(
        {method_outputs(f) for f in class_protocols.SYNTHIA_REFERENCE_OUTPUTS},
        reverse=True,
    )
]
# Staged method -> the scored run (results/<run>/) its stage 1 starts from: stage 0 of the report's plot.
REPORT_STARTS = {}


def cpsl_warmup_model():
    """CPSL's warm-up input: a released .pkl, else the workflow model that cpsl.warmup_model names."""
    cpsl = config["cpsl"]
    if cpsl["warmup_checkpoint"]:
        return cpsl["warmup_checkpoint"]
    name = cpsl["warmup_model"]
    if name == "cpsl_warmup":
        return f"work/{{seed_dir}}{name}/model.pt"
    if name == "source":
        return f"work/{{seed_dir}}{source_run('cpsl')}/model.pt"
    variant = name.removeprefix("adaptseg_")
    variants = config["adaptseg"]["variants"]
    if variant not in variants:
        known = ", ".join(f"adaptseg_{known}" for known in variants)
        raise WorkflowError(
            f"config key cpsl.warmup_model: '{name}' names no adaptseg.variants entry "
            f"(known: {known}, or cpsl_warmup, source)"
        )
    if variants[variant]["multi_level"]:
        raise WorkflowError(
            f"config key cpsl.warmup_model: '{name}' is multi-level; CPSL's network has one head, "
            "so name a single-level variant (e.g. adaptseg_lsgan) or source"
        )
    if method_outputs("adaptseg") != method_outputs("cpsl"):
        raise WorkflowError(
            f"config key cpsl.warmup_model: '{name}' has {method_outputs('adaptseg')} outputs under "
            f"model.num_classes: per_method on SYNTHIA, CPSL's networks {method_outputs('cpsl')}; "
            "name cpsl_warmup or source, or set model.num_classes to 16 or 19 for every method"
        )
    return f"work/{{seed_dir}}adaptseg_{variant}/model.pt"


def dasac_backbone():
    """DA-SAC's per-network values for model.arch; looked up only when a DA-SAC job is planned."""
    arch = config["model"]["arch"]
    if method_outputs("dasac") != 19:
        raise WorkflowError(
            "config key model.num_classes: DA-SAC trains 19-output networks (its SYNTHIA numbers are the "
            "drop-3 means of 19 classes); set per_method or 19 for DA-SAC targets"
        )
    backbones = config["dasac"]["backbones"]
    if arch not in backbones:
        raise WorkflowError(
            f"config key dasac.backbones: no entry for model.arch '{arch}' (known: {', '.join(backbones)}); "
            "DA-SAC's networks are DeepLab-v2 ones"
        )
    return backbones[arch]


def cityscapes_val_split():
    """The official evaluator scores Cityscapes: results of another target cannot be cross-checked by it."""
    if TARGET != "cityscapes":
        raise WorkflowError(
            f"config key target is '{TARGET}': the official cityscapesScripts evaluator "
            "(official_miou.json) cross-checks Cityscapes results only"
        )
    return TARGET_VAL_SPLIT
