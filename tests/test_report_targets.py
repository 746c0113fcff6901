"""The method x target table (issue 21): every reported result on the target and on each further dataset."""

import json

import pytest

from pipeline_lib.report.targets import eval_paths, target_html, target_rows, target_table


def write(path, miou, dataset=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"miou": miou, **({"dataset": dataset} if dataset else {})}))
    return path


def test_rows_are_runs_and_columns_datasets_with_mean_std_over_seeds(tmp_path):
    results = tmp_path / "results"
    paths = [
        write(results / "source/miou.json", 30.0),  # written before miou.json named its dataset: Cityscapes
        write(results / "seed1/source/miou.json", 32.0, "cityscapes"),
        write(results / "source/eval/acdc/miou.json", 10.0, "acdc"),
        write(results / "seed1/source/eval/acdc/miou.json", 14.0, "acdc"),
        write(results / "cbst_sp/round3/miou.json", 35.0, "cityscapes"),
        write(results / "cbst_sp/round3/eval/acdc/miou.json", 11.0, "acdc"),
    ]
    table = target_table(target_rows(paths), ["source", "cbst_sp/round3"], ["cityscapes", "acdc"])
    assert list(table.index) == ["source", "cbst_sp/round3"]
    assert list(table.columns) == ["cityscapes", "cityscapes std", "cityscapes seeds", "acdc", "acdc std", "acdc seeds"]
    assert table.loc["source", "cityscapes"] == pytest.approx(31.0)
    assert table.loc["source", "acdc std"] == pytest.approx(2.8284, abs=1e-4)
    assert table.loc["cbst_sp/round3", "acdc"] == 11.0 and table.loc["cbst_sp/round3", "acdc seeds"] == 1
    html = target_html(table)
    assert "<table" in html and "±2.8" in html


def test_eval_paths_are_per_run_and_dataset():
    assert eval_paths(["cpsl/stage3"], ["acdc", "bdd100k"]) == [
        "results/cpsl/stage3/eval/acdc/miou.json",
        "results/cpsl/stage3/eval/bdd100k/miou.json",
    ]
