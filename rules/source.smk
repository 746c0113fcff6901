rule train_source:
    """Source-only training: the baseline and the round-0 model of the self-training methods."""
    input:
        file_list=source_split(),
    output:
        model="work/source/model.pt",
        train_log="results/source/train_log.csv",
    log:
        "logs/train_source.log",
    benchmark:
        "benchmarks/train_source.tsv"
    conda:
        CONDA_ENV
    threads: config["compute"]["train_threads"]
    resources:
        mem_mb=8000,
        runtime=24 * 60,
    params:
        state_dir="work/source/state",
        model=config["model"],
        training=config["training"],
        compute=config["compute"],
    script:
        "../workflow/scripts/train_source.py"
