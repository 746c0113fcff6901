rule evaluate:
    """Score a model on the target validation split: miou.json, per-class CSV, colourised predictions."""
    input:
        model="work/{run}/model.pt",
        file_list="data/converted/cityscapes/val.csv",
    output:
        miou="results/{run}/miou.json",
        per_class="results/{run}/per_class.csv",
        visuals=directory("results/{run}/visuals"),
        label_ids=directory("results/{run}/label_ids"),
    log:
        "logs/evaluate/{run}.log",
    benchmark:
        "benchmarks/evaluate/{run}.tsv"
    conda:
        CONDA_ENV
    threads: config["compute"]["train_threads"]
    resources:
        mem_mb=4000,
        runtime=120,
        gpu=PREDICTION_GPUS,
    params:
        evaluation=config["evaluation"],
        compute=config["compute"],
    script:
        "../workflow/scripts/evaluate.py"


rule official_evaluation:
    """Optional cross-check: the official cityscapesScripts evaluator on the label-ID PNGs."""
    input:
        label_ids="results/{run}/label_ids",
        file_list="data/converted/cityscapes/val.csv",
        miou="results/{run}/miou.json",
    output:
        "results/{run}/official_miou.json",
    log:
        "logs/official_evaluation/{run}.log",
    benchmark:
        "benchmarks/official_evaluation/{run}.tsv"
    conda:
        CONDA_ENV_OFFICIAL
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        cityscapes_root=config["datasets"]["cityscapes"]["root"],
    script:
        "../workflow/scripts/official_evaluate.py"


rule summarize:
    """results/summary.csv: one row per method and round/stage with mIoU and per-class IoU."""
    input:
        lambda wildcards: DEFAULT_TARGETS,
    output:
        "results/summary.csv",
    log:
        "logs/summarize.log",
    benchmark:
        "benchmarks/summarize.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../workflow/scripts/summarize.py"
