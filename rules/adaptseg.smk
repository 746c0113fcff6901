"""AdaptSegNet (spec B): one output-space adversarial model per config adaptseg.variants entry."""

ADAPTSEG_VARIANTS = list(config["adaptseg"]["variants"])
DEFAULT_TARGETS.extend(
    f"results/adaptseg_{variant}/miou.json" for variant in ("single", "multi", "lsgan")
)


rule train_adaptseg:
    """AdaptSegNet training: source segmentation + adversarial alignment of target softmax outputs."""
    input:
        source=source_split(),
        target=TARGET_TRAIN_SPLIT,
    output:
        model="work/{seed_dir}adaptseg_{variant}/model.pt",
        train_log="results/{seed_dir}adaptseg_{variant}/train_log.csv",
    log:
        "logs/{seed_dir}train_adaptseg/{variant}.log",
    benchmark:
        "benchmarks/{seed_dir}train_adaptseg/{variant}.tsv"
    wildcard_constraints:
        variant="|".join(ADAPTSEG_VARIANTS),
    conda:
        CONDA_ENV
    threads: config["compute"]["train_threads"]
    resources:
        mem_mb=12000,
        runtime=48 * 60,
        gpu=TRAINING_GPUS,
    params:
        state_dir=lambda wildcards: f"work/{wildcards.seed_dir}adaptseg_{wildcards.variant}/state",
        model=method_model("adaptseg"),
        # The shared keys merged with this variant's preset, so editing one preset reruns only it.
        settings=lambda wildcards: {
            k: v for k, v in config["adaptseg"].items() if k != "variants"
        }
        | config["adaptseg"]["variants"][wildcards.variant],
        engine=training_engine,
        compute=config["compute"],
    script:
        "../workflow/scripts/train_adaptseg.py"
