rule train_source:
    """Source-only training: the baseline and the round-0 model of the self-training methods."""
    input:
        file_list=source_split(),
    output:
        model="work/{seed_dir}source/model.pt",
        train_log="results/{seed_dir}source/train_log.csv",
    log:
        "logs/{seed_dir}train_source.log",
    # Between-workflow cache (snakemake --cache): runs of other configs reuse the same source model.
    # Snakemake refuses benchmark: on a cached rule; the job log records time and peak memory instead.
    cache: True
    conda:
        CONDA_ENV
    threads: config["compute"]["train_threads"]
    resources:
        mem_mb=8000,
        runtime=24 * 60,
        gpu=TRAINING_GPUS,
    params:
        state_dir=lambda wildcards: f"work/{wildcards.seed_dir}source/state",
        model=config["model"],
        training=lambda wildcards: {
            **{k: v for k, v in config["training"].items() if k != "seeds"},
            "seed": seed_of(wildcards),
        },
        compute=config["compute"],
    script:
        "../workflow/scripts/train_source.py"
