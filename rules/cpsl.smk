"""CPSL (Li et al., CVPR 2022, on ProDA): the reference's eight hand-run commands as one chain.

By default CPSL trains its own warm-up first (work/cpsl_warmup/model.pt, scored in results/cpsl_warmup/):
DeepLab-v2 with ProDA's head, source CE + LS-GAN through CPSL's discriminator. work/cpsl/warmup/ holds the warm-up model and what is computed from it (soft labels, prototypes,
class distribution; seed k's under work/seed<k>/cpsl/); stage 1 trains work/cpsl/stage1/model.pt; stages 2 and 3 each make the previous
stage's flip-averaged hard labels and distil them into work/cpsl/stage<s>/model.pt. Rule evaluate
scores every stage (results/cpsl/stage<s>/miou.json). Spec: shared/spec/cpsl_proda.md.
"""

CPSL = config["cpsl"]
CPSL_WARMUP = "work/{seed_dir}cpsl/warmup"
CPSL_WARMUP_KEYS = (
    "warmup",
    "batch_size",
    "accumulation_steps",
    "momentum",
    "weight_decay",
    "poly_power",
    "source_augmentation",
    "weak_augmentation",
)
DEFAULT_TARGETS.extend(f"results/cpsl/stage{stage}/miou.json" for stage in (1, 2, 3))
if not CPSL["warmup_checkpoint"]:
    REPORT_STARTS["cpsl"] = CPSL["warmup_model"]


rule cpsl_train_warmup:
    """CPSL's own warm-up (cpsl.warmup_model: cpsl_warmup): ProDA head, source CE + 0.01 LS-GAN (spec 6.12)."""
    input:
        source=source_split(),
        target=TARGET_TRAIN_SPLIT,
    output:
        model="work/{seed_dir}cpsl_warmup/model.pt",
        train_log="results/{seed_dir}cpsl_warmup/train_log.csv",
    log:
        "logs/{seed_dir}cpsl/train_warmup.log",
    benchmark:
        "benchmarks/{seed_dir}cpsl/train_warmup.tsv"
    conda:
        CONDA_ENV
    threads: config["compute"]["train_threads"]
    resources:
        mem_mb=12000,
        runtime=48 * 60,
        gpu=TRAINING_GPUS,
    params:
        state_dir=lambda wildcards: f"work/{wildcards.seed_dir}cpsl_warmup/state",
        model=method_model("cpsl"),
        # Only the keys the warm-up reads, so editing a later stage's settings does not retrain it.
        cpsl={key: CPSL[key] for key in CPSL_WARMUP_KEYS},
        engine=training_engine,
        compute=config["compute"],
    script:
        "../workflow/scripts/cpsl_train_warmup.py"


rule cpsl_warmup:
    """The warm-up model: a workflow model (cpsl.warmup_model) or a released warm-up .pkl (cpsl.warmup_checkpoint)."""
    input:
        model=cpsl_warmup_model(),
    output:
        model=f"{CPSL_WARMUP}/model.pt",
    log:
        "logs/{seed_dir}cpsl/warmup.log",
    benchmark:
        "benchmarks/{seed_dir}cpsl/warmup.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        released=bool(CPSL["warmup_checkpoint"]),
    script:
        "../workflow/scripts/cpsl_warmup.py"


rule cpsl_soft_labels:
    """The warm-up model's float16 class probabilities of every target train image, at output stride 8."""
    input:
        model=f"{CPSL_WARMUP}/model.pt",
        file_list=TARGET_TRAIN_SPLIT,
    output:
        store=f"{CPSL_WARMUP}/soft_labels.h5",
    log:
        "logs/{seed_dir}cpsl/soft_labels.log",
    benchmark:
        "benchmarks/{seed_dir}cpsl/soft_labels.tsv"
    conda:
        CONDA_ENV
    threads: config["compute"]["train_threads"]
    resources:
        mem_mb=8000,
        runtime=120,
        gpu=PREDICTION_GPUS,
    params:
        compute=config["compute"],
    script:
        "../workflow/scripts/cpsl_soft_labels.py"


rule cpsl_prototypes:
    """Per-class mean classifier-input features of the target pixels, labelled by the warm-up argmax."""
    input:
        model=f"{CPSL_WARMUP}/model.pt",
        file_list=TARGET_TRAIN_SPLIT,
    output:
        prototypes=f"{CPSL_WARMUP}/prototypes.pt",
    log:
        "logs/{seed_dir}cpsl/prototypes.log",
    benchmark:
        "benchmarks/{seed_dir}cpsl/prototypes.tsv"
    conda:
        CONDA_ENV
    threads: config["compute"]["train_threads"]
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=PREDICTION_GPUS,
    params:
        settings=CPSL["prototypes"],
        compute=config["compute"],
    script:
        "../workflow/scripts/cpsl_prototypes.py"


rule cpsl_class_distribution:
    """The Sinkhorn marginal: the class histogram of the warm-up model's target predictions."""
    input:
        model=f"{CPSL_WARMUP}/model.pt",
        file_list=TARGET_TRAIN_SPLIT,
    output:
        distribution=f"{CPSL_WARMUP}/class_distribution.npy",
    log:
        "logs/{seed_dir}cpsl/class_distribution.log",
    benchmark:
        "benchmarks/{seed_dir}cpsl/class_distribution.tsv"
    conda:
        CONDA_ENV
    threads: config["compute"]["train_threads"]
    resources:
        mem_mb=8000,
        runtime=120,
        gpu=PREDICTION_GPUS,
    params:
        compute=config["compute"],
    script:
        "../workflow/scripts/cpsl_class_distribution.py"


rule cpsl_stage1:
    """Stage 1: rectified soft labels, Sinkhorn self-labelling, weak/strong consistency, EMA, CutMix."""
    input:
        warmup=f"{CPSL_WARMUP}/model.pt",
        soft_labels=f"{CPSL_WARMUP}/soft_labels.h5",
        prototypes=f"{CPSL_WARMUP}/prototypes.pt",
        class_distribution=f"{CPSL_WARMUP}/class_distribution.npy",
        source=source_split(),
        target=TARGET_TRAIN_SPLIT,
    output:
        model="work/{seed_dir}cpsl/stage1/model.pt",
        prototypes="work/{seed_dir}cpsl/stage1/prototypes_ema.pt",
        train_log="results/{seed_dir}cpsl/stage1/train_log.csv",
    log:
        "logs/{seed_dir}cpsl/stage1.log",
    benchmark:
        "benchmarks/{seed_dir}cpsl/stage1.tsv"
    conda:
        CONDA_ENV
    threads: config["compute"]["train_threads"]
    resources:
        mem_mb=16000,
        runtime=7 * 24 * 60,
        gpu=SINGLE_PROCESS_TRAINING_GPUS,
    params:
        state_dir=lambda wildcards: f"work/{wildcards.seed_dir}cpsl/stage1/state",
        settings={key: value for key, value in CPSL.items() if key != "distillation"},
        engine=training_engine,
        compute=config["compute"],
    script:
        "../workflow/scripts/cpsl_stage1.py"


rule cpsl_hard_labels:
    """The previous stage's flip-averaged hard labels of the target train images, thresholded."""
    input:
        model=lambda wildcards: f"work/{wildcards.seed_dir}cpsl/stage{int(wildcards.stage) - 1}/model.pt",
        file_list=TARGET_TRAIN_SPLIT,
    output:
        store="work/{seed_dir}cpsl/stage{stage}/pseudo_labels.h5",
    log:
        "logs/{seed_dir}cpsl/stage{stage}_pseudo_labels.log",
    benchmark:
        "benchmarks/{seed_dir}cpsl/stage{stage}_pseudo_labels.tsv"
    wildcard_constraints:
        stage="[23]",
    conda:
        CONDA_ENV
    threads: config["compute"]["train_threads"]
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=PREDICTION_GPUS,
    params:
        threshold=CPSL["distillation"]["threshold"],
        compute=config["compute"],
    script:
        "../workflow/scripts/cpsl_hard_labels.py"


rule cpsl_distill:
    """Stages 2 and 3: CE on the hard labels plus KD from the previous stage's model, on the strong view."""
    input:
        teacher=lambda wildcards: f"work/{wildcards.seed_dir}cpsl/stage{int(wildcards.stage) - 1}/model.pt",
        pseudo_labels="work/{seed_dir}cpsl/stage{stage}/pseudo_labels.h5",
        source=source_split(),
        target=TARGET_TRAIN_SPLIT,
    output:
        model="work/{seed_dir}cpsl/stage{stage}/model.pt",
        train_log="results/{seed_dir}cpsl/stage{stage}/train_log.csv",
    log:
        "logs/{seed_dir}cpsl/stage{stage}.log",
    benchmark:
        "benchmarks/{seed_dir}cpsl/stage{stage}.tsv"
    wildcard_constraints:
        stage="[23]",
    conda:
        CONDA_ENV
    threads: config["compute"]["train_threads"]
    resources:
        mem_mb=16000,
        runtime=4 * 24 * 60,
        gpu=SINGLE_PROCESS_TRAINING_GPUS,
    params:
        state_dir=lambda wildcards: f"work/{wildcards.seed_dir}cpsl/stage{wildcards.stage}/state",
        settings={key: value for key, value in CPSL.items() if key != "stage1"},
        imagenet_weights=config["model"]["imagenet_weights"],
        engine=training_engine,
        compute=config["compute"],
    script:
        "../workflow/scripts/cpsl_distill.py"
