rule generate_demo:
    """Write the synthetic GTA5 / SYNTHIA / Cityscapes demo sets in their real layouts."""
    output:
        directory(DEMO_ROOT),
    params:
        spec={k: v for k, v in config["demo"].items() if k not in ("generate", "root")},
    log:
        "logs/generate_demo.log",
    benchmark:
        "benchmarks/generate_demo.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        CONDA_ENV
    script:
        "../workflow/scripts/generate_demo.py"
