"""Figures and tables of `snakemake --report report.html`, all under results/report/.

Driven by DEFAULT_TARGETS (results/<method>/[round<r>|stage<s>]/miou.json): a method that extends
the default targets appears in the plot, the table and the panels without a change here. Input
functions read DEFAULT_TARGETS when the DAG is built, so rule files included after this one count.
"""

REPORT_DIR = report_runs.REPORT_DIR
# Target training images per round in a self-training method's pseudo-label panels.
REPORT_PANEL_IMAGES = 2
# Every report() output of the default run, for rule all (`snakemake --report` needs them on disk).
REPORT_TARGETS = lambda wildcards: report_runs.report_outputs(
    DEFAULT_TARGETS, SELF_TRAINING_METHODS
) + ([f"{REPORT_DIR}/targets.html"] if EXTRA_TARGETS else [])


rule report_targets:
    """The method x target table: every default result on the target and on each evaluation.targets dataset."""
    input:
        results=lambda wildcards: seed_paths.for_seeds(
            [run.miou for run in report_runs.final_runs(DEFAULT_TARGETS)]
            + report_targets.eval_paths(
                [run.name for run in report_runs.final_runs(DEFAULT_TARGETS)],
                EXTRA_TARGETS,
            ),
            SEEDS,
        ),
    output:
        table=report(
            f"{REPORT_DIR}/targets.html",
            caption="../workflow/report/targets.rst",
            category="1. Scores",
            labels={"figure": "method x target"},
        ),
        table_csv="results/summary_targets.csv",
    log:
        "logs/report/targets.log",
    benchmark:
        "benchmarks/report/targets.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        runs=lambda wildcards: [
            run.name for run in report_runs.final_runs(DEFAULT_TARGETS)
        ],
        datasets=[TARGET, *EXTRA_TARGETS],
    script:
        "../workflow/scripts/report_targets.py"


rule report_scores:
    """mIoU per round/stage of every default method (mean ± std over the seeds; bars for single results) and the per-class IoU table."""
    input:
        results=lambda wildcards: seed_paths.for_seeds(
            report_runs.scored_runs(DEFAULT_TARGETS, REPORT_STARTS), SEEDS
        ),
        papers=REPORT_PAPERS,
    output:
        plot=report(
            f"{REPORT_DIR}/miou.png",
            caption="../workflow/report/miou.rst",
            category="1. Scores",
            labels={"figure": "mIoU per round / stage"},
        ),
        table=report(
            f"{REPORT_DIR}/per_class_iou.html",
            caption="../workflow/report/per_class_iou.rst",
            category="1. Scores",
            labels={"figure": "per-class IoU"},
        ),
        table_csv=f"{REPORT_DIR}/per_class_iou.csv",
    log:
        "logs/report/scores.log",
    benchmark:
        "benchmarks/report/scores.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        finals=lambda wildcards: [
            run.name for run in report_runs.final_runs(DEFAULT_TARGETS)
        ],
        starts=lambda wildcards: report_runs.used_starts(DEFAULT_TARGETS, REPORT_STARTS),
    script:
        "../workflow/scripts/report_scores.py"


rule report_validation_panels:
    """The same validation images as predicted by every default method, in the Cityscapes palette."""
    input:
        lambda wildcards: [
            run.visuals for run in report_runs.final_runs(DEFAULT_TARGETS)
        ],
    output:
        report(
            f"{REPORT_DIR}/validation_panels.png",
            caption="../workflow/report/validation_panels.rst",
            category="2. Qualitative",
            labels={"figure": "validation predictions"},
        ),
    log:
        "logs/report/validation_panels.log",
    benchmark:
        "benchmarks/report/validation_panels.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        runs=lambda wildcards: [
            run.name for run in report_runs.final_runs(DEFAULT_TARGETS)
        ],
    script:
        "../workflow/scripts/report_validation_panels.py"


rule report_training:
    """Every loss each scored training job logged, one panel per method, rounds/stages one after another; job times per method (seed 0)."""
    input:
        lambda wildcards: [
            report_runs.train_log(name, SELF_TRAINING_METHODS)
            for name in report_runs.trained_runs(DEFAULT_TARGETS, REPORT_STARTS)
        ],
    output:
        curves=report(
            f"{REPORT_DIR}/training.png",
            caption="../workflow/report/training.rst",
            category="1. Scores",
            labels={"figure": "training curves"},
        ),
        times=report(
            f"{REPORT_DIR}/job_times.csv",
            caption="../workflow/report/job_times.rst",
            category="1. Scores",
            labels={"figure": "job times per method"},
        ),
    log:
        "logs/report/training.log",
    benchmark:
        "benchmarks/report/training.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        runs=lambda wildcards: report_runs.trained_runs(DEFAULT_TARGETS, REPORT_STARTS),
        starts=lambda wildcards: report_runs.used_starts(DEFAULT_TARGETS, REPORT_STARTS),
    script:
        "../workflow/scripts/report_training.py"


rule report_pseudo_labels:
    """Per round: thresholds, labelled share and ground-truth agreement per class, and example panels.

    The report shows seed 0's; another seed's are a target away (results/report/pseudo_labels/seed<k>/<method>/).
    """
    input:
        thresholds=lambda wildcards: expand(
            "work/{seed_dir}{method}/round{round}/thresholds.json",
            method=wildcards.method,
            seed_dir=wildcards.seed_dir,
            round=range(1, SELF_TRAINING["rounds"] + 1),
        ),
        pseudo_lists=lambda wildcards: expand(
            "work/{seed_dir}{method}/round{round}/pseudo_labels/shard{shard}.csv",
            method=wildcards.method,
            seed_dir=wildcards.seed_dir,
            round=range(1, SELF_TRAINING["rounds"] + 1),
            shard=SHARDS,
        ),
        stores=lambda wildcards: expand(
            "work/{seed_dir}{method}/round{round}/predictions/shard0.h5",
            method=wildcards.method,
            seed_dir=wildcards.seed_dir,
            round=range(1, SELF_TRAINING["rounds"] + 1),
        ),
        target_list=TARGET_TRAIN_LIST,
        prior=lambda wildcards: rounds.prior_input(
            SELF_TRAINING["methods"][wildcards.method]
        ),
    output:
        stats=f"{REPORT_DIR}/pseudo_labels/{{seed_dir}}{{method}}/statistics.csv",
        figure=report(
            f"{REPORT_DIR}/pseudo_labels/{{seed_dir}}{{method}}/statistics.png",
            caption="../workflow/report/pseudo_label_statistics.rst",
            category="3. Pseudo-labels",
            subcategory="{method}",
            labels={"method": "{method}", "figure": "statistics per round"},
        ),
        panels=report(
            f"{REPORT_DIR}/pseudo_labels/{{seed_dir}}{{method}}/panels.png",
            caption="../workflow/report/pseudo_label_panels.rst",
            category="3. Pseudo-labels",
            subcategory="{method}",
            labels={"method": "{method}", "figure": "panels per round"},
        ),
    log:
        "logs/report/pseudo_labels/{seed_dir}{method}.log",
    benchmark:
        "benchmarks/report/pseudo_labels/{seed_dir}{method}.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        rounds=list(range(1, SELF_TRAINING["rounds"] + 1)),
        panel_images=REPORT_PANEL_IMAGES,
    script:
        "../workflow/scripts/report_pseudo_labels.py"
