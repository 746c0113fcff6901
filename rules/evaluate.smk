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
    params:
        evaluation=config["evaluation"],
        compute=config["compute"],
        config=config,
    script:
        "../workflow/scripts/evaluate.py"
