"""End to end: source + one CBST-SP round on the tiny config, the report figures, `snakemake --report`.

The workflow's default targets hold every method; a wrapper Snakefile includes the real one and
narrows DEFAULT_TARGETS to source + cbst_sp round 1, which is also what shows that the report
follows DEFAULT_TARGETS (no adaptseg or other self-training method may appear).
"""

import json
import re

import pandas as pd
import pytest
from conftest import REPO, run_snakemake, tiny_config
from test_selftrain_workflow import planned_jobs

from pipeline_lib.report.runs import report_outputs, step_runs

pytestmark = pytest.mark.workflow

TARGETS = ["results/source/miou.json", "results/cbst_sp/round1/miou.json"]


def report_config() -> dict:
    config = tiny_config()
    config["evaluation"]["num_visualizations"] = 2
    section = config["self_training"]
    section.update(rounds=1, shards=1)
    section["prediction"]["histogram_bins"] = 1000
    section["training"].update(iterations=4, batch_size=2)
    return config


def test_report_renders_from_a_source_and_one_round_run(workdir):
    wrapper = workdir / "Snakefile"
    wrapper.write_text(f'include: "{REPO / "Snakefile"}"\n\nDEFAULT_TARGETS[:] = {TARGETS!r}\n')
    outputs = report_outputs(TARGETS, ["cbst_sp"])
    result = run_snakemake(workdir, "--snakefile", str(wrapper), *outputs, config=report_config())
    assert result.returncode == 0, result.stdout[-3000:]
    assert "udaflow finished." in result.stdout and "results/report/" in result.stdout
    # Only the jobs the narrowed targets need: no AdaptSegNet (CPSL's warm-up) or other method's training.
    jobs = planned_jobs(result.stdout)
    trained = {rule for rule in jobs if rule.startswith(("train_", "cpsl_", "dasac_")) or rule == "selftrain_finetune"}
    assert trained == {"train_source", "selftrain_finetune"}, jobs

    times = pd.read_csv(workdir / "results/report/job_times.csv").set_index("method")
    assert {"source", "cbst_sp"} <= set(times.index) and (times["minutes"] > 0).all()
    assert times.loc["cbst_sp", "jobs"] >= 4  # predict, thresholds, pseudo-labels, fine-tune, evaluate

    source = json.loads((workdir / "results/source/miou.json").read_text())
    table = pd.read_csv(workdir / "results/report/per_class_iou.csv", index_col="run")
    assert list(table.index) == ["source", "cbst_sp/round1"]
    assert table.loc["source", "mIoU"] == pytest.approx(source["miou"], abs=0.01)
    assert table.loc["source", "road"] == pytest.approx(source["per_class"]["road"], abs=0.01)

    thresholds = json.loads((workdir / "work/cbst_sp/round1/thresholds.json").read_text())
    stats = pd.read_csv(workdir / "results/report/pseudo_labels/cbst_sp/statistics.csv").set_index("class")
    assert stats.loc["road", "threshold"] == pytest.approx(thresholds["thresholds"]["road"], abs=1e-4)
    assert 0 < stats.loc["all", "labelled_share"] <= 100 and 0 <= stats.loc["all", "agreement"] <= 100
    assert stats.loc["all", "labelled_share"] == pytest.approx(stats["labelled_share"].drop("all").sum(), abs=1e-3)
    assert "of pixels pseudo-labelled" in (workdir / "logs/report/pseudo_labels/cbst_sp.log").read_text()

    rendered = run_snakemake(workdir, "--snakefile", str(wrapper), *outputs, "--report", "report.html")
    assert rendered.returncode == 0, rendered.stdout[-3000:]
    html = (workdir / "report.html").read_text()
    figures = ("miou.png", "per_class_iou.html", "validation_panels.png", "training.png", "job_times.csv")
    figures += ("statistics.png", "panels.png")
    for name in figures:
        assert name in html, name
    for caption in (
        "mIoU over the 19 Cityscapes classes",  # miou.rst
        "Per-class IoU (%) of the final result",  # per_class_iou.rst
        "then each method",  # validation_panels.rst
        "Training losses of every scored run",  # training.rst
        "class-balanced (CBST) thresholds, spatial prior",  # pseudo_label_statistics.rst
        "the pseudo-label after the class thresholds",  # pseudo_label_panels.rst
        "udaflow report: GTA5",  # workflow.rst
    ):
        assert caption in html, caption
    # Only the narrowed default targets' results (the html also embeds every rule's pattern and code).
    assert "results/adaptseg_single/miou.json" not in html and "results/report/pseudo_labels/st/" not in html

    # A report of one named target shows that target's own scores and predictions (issue 22).
    named = run_snakemake(
        workdir, "--snakefile", str(wrapper), "--report", "named.html", "results/cbst_sp/round1/miou.json"
    )
    assert named.returncode == 0, named.stdout[-3000:]
    named_html = (workdir / "named.html").read_text()
    visual = sorted((workdir / "results/cbst_sp/round1/visuals").glob("*.png"))[0].name
    for expected in ("per_class.csv", visual, "IoU (%) per Cityscapes class of this run", "cbst_sp/round1"):
        assert expected in named_html, expected


def test_default_run_draws_the_report_for_every_default_method(workdir):
    """`snakemake` without a target plans the report jobs: every round/stage of every default target is
    scored for the plot, and each self-training method gets its pseudo-label figures."""
    config = tiny_config()
    plan = run_snakemake(workdir, "-n", config=config)
    assert plan.returncode == 0, plan.stdout[-3000:]
    jobs = planned_jobs(plan.stdout)
    all_inputs = re.search(r"^rule all:\n\s+input: (.+)$", plan.stdout, flags=re.MULTILINE)[1].split(", ")
    assert set(report_outputs(all_inputs, config["self_training"]["methods"])) <= set(all_inputs)
    assert jobs["report_scores"] == 1 and jobs["report_validation_panels"] == 1
    assert jobs["report_pseudo_labels"] == len(config["self_training"]["methods"])
    # rounds 1..r of each round target, stages alike, and CPSL's own warm-up (stage 0 of its plot)
    assert jobs["evaluate"] == len(step_runs(all_inputs)) + 1
    assert "results/cpsl_warmup/miou.json" in plan.stdout
