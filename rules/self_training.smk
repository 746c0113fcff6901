"""Self-training family (CBST / CBST-SP / ST, MLSL SISC and SISC-PWL): one job per step per round.

Round r of method m, all under work/<m>/round<r>/ (shared/spec/cbst_mlsl.md §1-§9); round 1 starts
from the source-only model, or from self_training.round0_model (rule selftrain_round0):
selftrain_predict (one job per shard) -> selftrain_thresholds (gather) -> selftrain_pseudo_labels
(per shard) -> selftrain_finetune -> work/<m>/round<r>/model.pt, scored by rule evaluate.
"""

from pipeline_lib.selftrain import rounds

SELF_TRAINING = config["self_training"]
# The full target train list unless a custom one is configured: a name,image,label CSV, or a reference
# .lst (CBST/MLSL's 505-image train.lst) that rule selftrain_target_list turns into one.
REFERENCE_TARGET_LIST = str(SELF_TRAINING["target_list"] or "").endswith(".lst")
TARGET_TRAIN_LIST = (
    "work/target_list.csv"
    if REFERENCE_TARGET_LIST
    else SELF_TRAINING["target_list"] or TARGET_TRAIN_SPLIT
)
SELF_TRAINING_METHODS = tuple(SELF_TRAINING["methods"])
SHARDS = range(SELF_TRAINING["shards"])
ROUND0_RELEASED = bool(SELF_TRAINING["round0_model"])
RELEASED_PRIOR = SELF_TRAINING["spatial_prior"]["file"]


wildcard_constraints:
    method="|".join(SELF_TRAINING_METHODS),
    round=r"[1-9]\d*",
    shard=r"\d+",


rule selftrain_spatial_prior:
    """CBST-SP's spatial prior: per-class position frequencies of the source labels, or the released .mat (§5)."""
    input:
        file_list=[] if RELEASED_PRIOR else source_split(),
        released=RELEASED_PRIOR or [],
    output:
        prior=rounds.SPATIAL_PRIOR,
    log:
        "logs/self_training/spatial_prior.log",
    benchmark:
        "benchmarks/self_training/spatial_prior.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        num_classes=method_outputs("self_training"),
        prior=SELF_TRAINING["spatial_prior"],
    script:
        "../workflow/scripts/selftrain_spatial_prior.py"


if REFERENCE_TARGET_LIST:

    rule selftrain_target_list:
        """The frames of a reference .lst (CBST/MLSL data_list/cityscapes/train.lst) from the converted train split."""
        input:
            reference_list=SELF_TRAINING["target_list"],
            train_list=TARGET_TRAIN_SPLIT,
        output:
            file_list=TARGET_TRAIN_LIST,
        log:
            "logs/self_training/target_list.log",
        conda:
            CONDA_ENV
        threads: 1
        resources:
            mem_mb=1000,
            runtime=10,
        script:
            "../workflow/scripts/selftrain_target_list.py"


if ROUND0_RELEASED:

    rule selftrain_round0:
        """Round 0 from a released model: a CBST/MLSL MXNet .params imported, or a udaflow model file checked."""
        input:
            model=SELF_TRAINING["round0_model"],
        output:
            model=rounds.RELEASED_SOURCE,
        log:
            "logs/self_training/round0.log",
        benchmark:
            "benchmarks/self_training/round0.tsv"
        conda:
            CONDA_ENV
        threads: 1
        resources:
            mem_mb=4000,
            runtime=10,
        params:
            num_classes=method_outputs("self_training"),
        script:
            "../workflow/scripts/selftrain_round0.py"


rule selftrain_predict:
    """Predict one target shard with the previous round's model: stride-8 float16 HDF5 + confidence histogram."""
    input:
        model=lambda wildcards: rounds.previous_model(
            wildcards.method,
            int(wildcards.round),
            wildcards.seed_dir,
            ROUND0_RELEASED,
            source_run("self_training"),
        ),
        file_list=TARGET_TRAIN_LIST,
        prior=lambda wildcards: rounds.prior_input(
            SELF_TRAINING["methods"][wildcards.method]
        ),
    output:
        store="work/{seed_dir}{method}/round{round}/predictions/shard{shard}.h5",
        histogram="work/{seed_dir}{method}/round{round}/histograms/shard{shard}.npz",
    log:
        "logs/{seed_dir}self_training/{method}/round{round}/predict_shard{shard}.log",
    benchmark:
        "benchmarks/{seed_dir}self_training/{method}/round{round}/predict_shard{shard}.tsv"
    conda:
        CONDA_ENV
    threads: config["compute"]["train_threads"]
    resources:
        mem_mb=8000,
        runtime=120,
        gpu=PREDICTION_GPUS,
    params:
        shards=SELF_TRAINING["shards"],
        prediction=SELF_TRAINING["prediction"],
        sisc=lambda wildcards: (
            SELF_TRAINING["mlsl"]["sisc"]
            if SELF_TRAINING["methods"][wildcards.method]["sisc"]
            else None
        ),
        seed=seed_of,
        compute=config["compute"],
    script:
        "../workflow/scripts/selftrain_predict.py"


rule selftrain_thresholds:
    """Merge the shard histograms into per-class thresholds t_c for this round's target portion (§4.4)."""
    input:
        histograms=expand(
            "work/{{seed_dir}}{{method}}/round{{round}}/histograms/shard{shard}.npz",
            shard=SHARDS,
        ),
    output:
        thresholds="work/{seed_dir}{method}/round{round}/thresholds.json",
    log:
        "logs/{seed_dir}self_training/{method}/round{round}/thresholds.log",
    benchmark:
        "benchmarks/{seed_dir}self_training/{method}/round{round}/thresholds.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        policy=lambda wildcards: SELF_TRAINING["methods"][wildcards.method]["policy"],
        portion=lambda wildcards: rounds.target_portion(
            SELF_TRAINING["portions"], int(wildcards.round)
        ),
    script:
        "../workflow/scripts/selftrain_thresholds.py"


rule selftrain_pseudo_labels:
    """One shard's pseudo-label PNGs (argmax of score/t_c, 255 below 1) and its file list (§4.5)."""
    input:
        store="work/{seed_dir}{method}/round{round}/predictions/shard{shard}.h5",
        thresholds="work/{seed_dir}{method}/round{round}/thresholds.json",
        prior=lambda wildcards: rounds.prior_input(
            SELF_TRAINING["methods"][wildcards.method]
        ),
    output:
        labels=directory(
            "work/{seed_dir}{method}/round{round}/pseudo_labels/shard{shard}"
        ),
        file_list="work/{seed_dir}{method}/round{round}/pseudo_labels/shard{shard}.csv",
    log:
        "logs/{seed_dir}self_training/{method}/round{round}/pseudo_labels_shard{shard}.log",
    benchmark:
        "benchmarks/{seed_dir}self_training/{method}/round{round}/pseudo_labels_shard{shard}.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    script:
        "../workflow/scripts/selftrain_pseudo_labels.py"


rule selftrain_finetune:
    """Fine-tune the previous round's model on the pseudo-labelled targets plus the round's source subset (§3)."""
    input:
        model=lambda wildcards: rounds.previous_model(
            wildcards.method,
            int(wildcards.round),
            wildcards.seed_dir,
            ROUND0_RELEASED,
            source_run("self_training"),
        ),
        heads=lambda wildcards: rounds.previous_heads(
            wildcards.method, int(wildcards.round), wildcards.seed_dir
        ),
        source_list=source_split(),
        target_lists=expand(
            "work/{{seed_dir}}{{method}}/round{{round}}/pseudo_labels/shard{shard}.csv",
            shard=SHARDS,
        ),
        thresholds="work/{seed_dir}{method}/round{round}/thresholds.json",
    output:
        model="work/{seed_dir}{method}/round{round}/model.pt",
        heads="work/{seed_dir}{method}/round{round}/aux_heads.pt",
        train_log="work/{seed_dir}{method}/round{round}/train_log.csv",
    log:
        "logs/{seed_dir}self_training/{method}/round{round}/finetune.log",
    benchmark:
        "benchmarks/{seed_dir}self_training/{method}/round{round}/finetune.tsv"
    conda:
        CONDA_ENV
    threads: config["compute"]["train_threads"]
    resources:
        mem_mb=8000,
        runtime=12 * 60,
        gpu=TRAINING_GPUS,
    params:
        state_dir=lambda wildcards: f"work/{wildcards.seed_dir}{wildcards.method}/round{wildcards.round}/state",
        method=lambda wildcards: SELF_TRAINING["methods"][wildcards.method],
        training=SELF_TRAINING["training"],
        mining=SELF_TRAINING["mining"],
        mlsl={k: v for k, v in SELF_TRAINING["mlsl"].items() if k != "sisc"},
        source_portions=SELF_TRAINING["portions"]["source"],
        source_sample_policy=SELF_TRAINING["source_sample_policy"],
        seed=seed_of,
        training_common={
            k: config["training"][k] for k in ("checkpoint_every", "log_every")
        },
        compute=config["compute"],
    script:
        "../workflow/scripts/selftrain_finetune.py"


if not ROUND0_RELEASED:
    # Round 0 of the report's plots: the source model of the methods' width (source_compact16 on SYNTHIA).
    REPORT_STARTS.update(
        {method: source_run("self_training") for method in SELF_TRAINING_METHODS}
    )
DEFAULT_TARGETS.extend(
    f"results/{method}/round{SELF_TRAINING['rounds']}/miou.json"
    for method in SELF_TRAINING_METHODS
)
