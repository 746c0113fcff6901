rule generate_demo:
    """Write the synthetic GTA5 / SYNTHIA / Cityscapes demo sets in their real layouts."""
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
        # resolution: demo is the generator's default; leaving it out keeps the params (and so the data
        # and everything computed from it) of runs made before the key existed.
        spec={
            k: v
            for k, v in config["demo"].items()
            if k not in ("generate", "root") and (k, v) != ("resolution", "demo")
        },
    script:
        "../workflow/scripts/generate_demo.py"
