rule train_source:
    """Source-only training: the baseline and round 0 of the self-training methods, at each output width
    the methods use (source: 19 outputs; source_compact16: SYNTHIA's 16, pipeline_lib.class_protocols).
    """
    input:
        file_list=source_split(),
    output:
        model="work/{seed_dir}{source_run}/model.pt",
        train_log="results/{seed_dir}{source_run}/train_log.csv",
    log:
        "logs/{seed_dir}train_{source_run}.log",
    wildcard_constraints:
        source_run="|".join(class_protocols.SOURCE_RUNS.values()),
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
        state_dir=lambda wildcards: f"work/{wildcards.seed_dir}{wildcards.source_run}/state",
        model=lambda wildcards: {
            **config["model"],
            "num_classes": class_protocols.source_run_outputs(wildcards.source_run),
        },
        training=lambda wildcards: {
            **{k: v for k, v in config["training"].items() if k != "seeds"},
            "seed": seed_of(wildcards),
        },
        compute=config["compute"],
    script:
        "../workflow/scripts/train_source.py"
