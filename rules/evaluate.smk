rule evaluate:
    """Score a model on the target validation split: miou.json, per-class CSV, colourised predictions."""
    input:
        model="work/{seed_dir}{run}/model.pt",
        file_list=TARGET_VAL_SPLIT,
    output:
        miou="results/{seed_dir}{run}/miou.json",
        # In the report of whatever targets were asked for (`snakemake --report r.html <target>`).
        per_class=report(
            "results/{seed_dir}{run}/per_class.csv",
            caption="../workflow/report/run_per_class.rst",
            category="1. Scores",
            subcategory="per run",
            labels={"run": "{seed_dir}{run}", "figure": "per-class IoU"},
        ),
        visuals=report(
            directory("results/{seed_dir}{run}/visuals"),
            patterns=["{image}.png"],
            caption="../workflow/report/run_visuals.rst",
            category="2. Qualitative",
            subcategory="per run",
            labels={"run": "{seed_dir}{run}", "figure": "{image}"},
        ),
        label_ids=directory("results/{seed_dir}{run}/label_ids"),
    log:
        "logs/{seed_dir}evaluate/{run}.log",
    benchmark:
        "benchmarks/{seed_dir}evaluate/{run}.tsv"
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
        dataset=TARGET,
    script:
        "../workflow/scripts/evaluate.py"


rule evaluate_on:
    """Score a model on another labelled dataset's val split (evaluation.targets): the same job as evaluate."""
    input:
        model="work/{seed_dir}{run}/model.pt",
        file_list="data/converted/{dataset}/val.csv",
    output:
        miou="results/{seed_dir}{run}/eval/{dataset}/miou.json",
        per_class="results/{seed_dir}{run}/eval/{dataset}/per_class.csv",
        visuals=directory("results/{seed_dir}{run}/eval/{dataset}/visuals"),
        label_ids=directory("results/{seed_dir}{run}/eval/{dataset}/label_ids"),
    log:
        "logs/{seed_dir}evaluate/{run}/on_{dataset}.log",
    benchmark:
        "benchmarks/{seed_dir}evaluate/{run}/on_{dataset}.tsv"
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
        dataset=lambda wildcards: wildcards.dataset,
    script:
        "../workflow/scripts/evaluate.py"


rule official_evaluation:
    """Optional cross-check: the official cityscapesScripts evaluator on the label-ID PNGs."""
    input:
        label_ids="results/{seed_dir}{run}/label_ids",
        file_list=lambda wildcards: cityscapes_val_split(),
        miou="results/{seed_dir}{run}/miou.json",
    output:
        "results/{seed_dir}{run}/official_miou.json",
    log:
        "logs/{seed_dir}official_evaluation/{run}.log",
    benchmark:
        "benchmarks/{seed_dir}official_evaluation/{run}.tsv"
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
    """results/summary.csv: mean and std over the seeds per method and round/stage (every one, and the warm-ups); summary_seeds.csv: every seed."""
    input:
        results=lambda wildcards: seed_paths.for_seeds(
            report_runs.scored_runs(DEFAULT_TARGETS, REPORT_STARTS), SEEDS
        ),
        papers=REPORT_PAPERS,
    output:
        summary="results/summary.csv",
        seeds="results/summary_seeds.csv",
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
