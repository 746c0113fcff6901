"""results/summary_seeds.csv and summary.csv: a row per run (and seed), method and step split, classes in order."""

import json

import pytest

from pipeline_lib.data.labels import TRAIN_CLASSES
from pipeline_lib.summary import read_results, run_name, seed_table, summary_table


def write_result(path, miou, **extra):
    path.parent.mkdir(parents=True)
    per_class = {name: float(i) for i, name in enumerate(TRAIN_CLASSES)}
    path.write_text(json.dumps({"miou": miou, "per_class": per_class, **extra}))
    return path


def test_summary_rows_per_method_and_round(tmp_path):
    paths = [
        write_result(tmp_path / "results/source/miou.json", 15.0),
        write_result(tmp_path / "results/cbst_sp/round3/miou.json", 24.0, miou16=20.0, miou13=22.0),
    ]
    table = seed_table(read_results(paths))
    assert table[["method", "step", "seed"]].values.tolist() == [["cbst_sp", "round3", 0], ["source", "", 0]]
    assert table.loc[0, "miou"] == 24.0 and table.loc[0, "miou16"] == 20.0
    assert table.loc[1, "miou16"] is None or table["miou16"].isna()[1]
    assert list(table.columns[7:]) == list(TRAIN_CLASSES)
    assert table.loc[0, "bicycle"] == pytest.approx(18.0)
    summary = summary_table(table)
    assert summary.loc[0, "miou_mean"] == 24.0 and summary.loc[0, "gain_mean"] == pytest.approx(9.0)
    assert summary.loc[0, "n"] == 1 and summary["miou_std"].isna().all()  # one seed: no spread
    assert list(summary.columns[-19:]) == list(TRAIN_CLASSES)


def test_run_name_from_path():
    assert run_name("results/cpsl/stage2/miou.json") == "cpsl/stage2"
    assert run_name("results/source/miou.json") == "source"
    assert run_name("results/seed4/cpsl/stage2/miou.json") == "seed4/cpsl/stage2"
