"""End to end on the demo's second target domain (issue 21): CBST-SP adapts to ACDC night
(``target: acdc``), every result is also scored on Cityscapes (``evaluation.targets``), and the
report's method x target table holds both.

A wrapper Snakefile narrows DEFAULT_TARGETS to source + cbst_sp round 1 (as test_report_workflow.py).
"""

import json

import pandas as pd
import pytest
from conftest import REPO, run_snakemake, tiny_config

pytestmark = pytest.mark.workflow

TARGETS = ["results/source/miou.json", "results/cbst_sp/round1/miou.json"]


def test_cbst_sp_adapts_to_acdc_night_and_the_report_has_the_method_by_target_table(workdir):
    config = tiny_config()
    config["target"] = "acdc"
    config["demo"].update(acdc_train_count=4, acdc_val_count=3)
    config["evaluation"].update(targets=["cityscapes"], num_visualizations=1)
    section = config["self_training"]
    section.update(rounds=1, shards=1)
    section["prediction"]["histogram_bins"] = 1000
    section["training"].update(iterations=4, batch_size=2)
    wrapper = workdir / "Snakefile"
    wrapper.write_text(f'include: "{REPO / "Snakefile"}"\n\nDEFAULT_TARGETS[:] = {TARGETS!r}\n')
    result = run_snakemake(workdir, "--snakefile", str(wrapper), "results/report/targets.html", config=config)
    assert result.returncode == 0, result.stdout[-3000:]

    train = pd.read_csv(workdir / "data/converted/acdc/train.csv")
    assert len(train) == 4 and train["name"].str.startswith("night_").all()  # ACDC night's train split
    adapted_on = pd.read_csv(workdir / "work/cbst_sp/round1/pseudo_labels/shard0.csv")
    assert set(adapted_on["name"]) <= set(train["name"]) and len(adapted_on) > 0  # pseudo-labels of ACDC frames

    table = pd.read_csv(workdir / "results/summary_targets.csv", index_col="run")
    assert list(table.index) == ["source", "cbst_sp/round1"]
    for run in table.index:
        on_target = json.loads((workdir / f"results/{run}/miou.json").read_text())
        on_cityscapes = json.loads((workdir / f"results/{run}/eval/cityscapes/miou.json").read_text())
        assert (on_target["dataset"], on_target["images"]) == ("acdc", 3)
        assert (on_cityscapes["dataset"], on_cityscapes["images"]) == ("cityscapes", 3)
        assert table.loc[run, "acdc"] == pytest.approx(on_target["miou"], abs=1e-3)
        assert table.loc[run, "cityscapes"] == pytest.approx(on_cityscapes["miou"], abs=1e-3)
    assert "<table" in (workdir / "results/report/targets.html").read_text()
