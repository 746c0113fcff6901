rule generate_demo:
    """Write the synthetic GTA5 / SYNTHIA / Cityscapes (and ACDC night) demo sets in their real layouts."""
    output:
        directory(DEMO_ROOT),
    log:
        "logs/generate_demo.log",
    benchmark:
        "benchmarks/generate_demo.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        # Keys at the generator's defaults that did not always exist (resolution: demo, no ACDC frames)
        # are left out: the params, and so the data and everything computed from it, of earlier runs stay.
        spec={
            k: v
            for k, v in config["demo"].items()
            if k not in ("generate", "root")
            and (k, v)
            not in (
                ("resolution", "demo"),
                ("acdc_train_count", 0),
                ("acdc_val_count", 0),
            )
        },
    script:
        "../workflow/scripts/generate_demo.py"
