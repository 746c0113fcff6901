rule convert_labels:
    """Map raw labels to the 19 Cityscapes train IDs and write the split's file list (any source or target dataset)."""
    input:
        dataset_inputs,
    output:
        file_list="data/converted/{dataset}/{split}.csv",
        labels=directory("data/converted/{dataset}/{split}_labels"),
        report="data/converted/{dataset}/{split}_report.json",
    log:
        "logs/convert_labels/{dataset}_{split}.log",
    # Between-workflow cache (snakemake --cache): runs of other configs reuse converted labels.
    # Snakemake refuses benchmark: on a cached rule; the job log records time and peak memory instead.
    cache: True
    conda:
        CONDA_ENV
    threads: 2
    resources:
        mem_mb=2000,
        runtime=120,
    params:
        root=lambda wildcards: config["datasets"][wildcards.dataset]["root"],
        # Only GTA5 has known size mismatches (frames 20801-20860); elsewhere one means a broken dataset.
        size_mismatch=lambda wildcards: (
            config["datasets"]["gta5"]["size_mismatch"]
            if wildcards.dataset == "gta5"
            else "error"
        ),
        # Sources train on labels; a target's train split is unlabelled, its val split is what is scored.
        require_labels=lambda wildcards: wildcards.dataset in ("gta5", "synthia")
        or wildcards.split == "val",
        demo=lambda wildcards: demo_generates(wildcards.dataset),
        # A dataset's own keys besides its root (ACDC conditions, the Cross-City city, folder lists).
        options=lambda wildcards: {
            key: value
            for key, value in config["datasets"][wildcards.dataset].items()
            if key not in ("root", "size_mismatch")
        },
    script:
        "../workflow/scripts/convert_labels.py"
