"""DA-SAC (spec A): ABN baseline -> importance-sampling weights -> augmentation consistency."""

DEFAULT_TARGETS.extend(["results/dasac_baseline/miou.json", "results/dasac/miou.json"])


rule train_dasac_baseline:
    """ABN baseline: source CE with target images passed through BN in train mode (spec A.4)."""
    input:
        source=source_split(),
        target=TARGET_TRAIN_SPLIT,
    output:
        model="work/{seed_dir}dasac_baseline/model.pt",
        train_log="results/{seed_dir}dasac_baseline/train_log.csv",
    log:
        "logs/{seed_dir}train_dasac_baseline.log",
    benchmark:
        "benchmarks/{seed_dir}train_dasac_baseline.tsv"
    conda:
        CONDA_ENV
    threads: config["compute"]["train_threads"]
    resources:
        mem_mb=8000,
        runtime=48 * 60,
        gpu=SINGLE_PROCESS_TRAINING_GPUS,
    params:
        state_dir=lambda wildcards: f"work/{wildcards.seed_dir}dasac_baseline/state",
        model=method_model("dasac"),
        settings={
            **config["dasac"]["baseline"],
            **{
                key: config["dasac"][key]
                for key in ("ce_normalization", "momentum", "weight_decay")
            },
        },
        engine=training_engine,
        compute=config["compute"],
    script:
        "../workflow/scripts/train_dasac_baseline.py"


rule dasac_importance_weights:
    """Per-image class shares of the baseline's target predictions (spec A.5)."""
    input:
        model="work/{seed_dir}dasac_baseline/model.pt",
        target=TARGET_TRAIN_SPLIT,
    output:
        "work/{seed_dir}dasac_baseline/importance_weights.csv",
    log:
        "logs/{seed_dir}dasac_importance_weights.log",
    benchmark:
        "benchmarks/{seed_dir}dasac_importance_weights.tsv"
    conda:
        CONDA_ENV
    threads: config["compute"]["train_threads"]
    resources:
        mem_mb=4000,
        runtime=120,
        gpu=PREDICTION_GPUS,
    params:
        compute=config["compute"],
    script:
        "../workflow/scripts/dasac_importance_weights.py"


rule train_dasac:
    """Self-supervised augmentation consistency from the ABN baseline (spec A.6)."""
    input:
        source=source_split(),
        target=TARGET_TRAIN_SPLIT,
        baseline="work/{seed_dir}dasac_baseline/model.pt",
        weights="work/{seed_dir}dasac_baseline/importance_weights.csv",
    output:
        model="work/{seed_dir}dasac/model.pt",
        train_log="results/{seed_dir}dasac/train_log.csv",
    log:
        "logs/{seed_dir}train_dasac.log",
    benchmark:
        "benchmarks/{seed_dir}train_dasac.tsv"
    conda:
        CONDA_ENV
    threads: config["compute"]["train_threads"]
    resources:
        mem_mb=16000,
        runtime=72 * 60,
        gpu=SINGLE_PROCESS_TRAINING_GPUS,
    params:
        state_dir=lambda wildcards: f"work/{wildcards.seed_dir}dasac/state",
        source=config["source"],
        settings={
            **config["dasac"]["sac"],
            **{
                key: config["dasac"][key]
                for key in ("ce_normalization", "momentum", "weight_decay")
            },
        },
        backbone=lambda wildcards: dasac_backbone(),
        uniform_prior=config["dasac"]["uniform_prior"],
        engine=training_engine,
        compute=config["compute"],
    script:
        "../workflow/scripts/train_dasac.py"
