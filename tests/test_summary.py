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
    assert list(table.columns[8:]) == list(TRAIN_CLASSES)
    assert table["class_protocol"].tolist() == ["19", "19"]  # files without the key: 19 outputs
    assert table.loc[0, "bicycle"] == pytest.approx(18.0)
    summary = summary_table(table)
    assert summary.loc[0, "miou_mean"] == 24.0 and summary.loc[0, "gain_mean"] == pytest.approx(9.0)
    assert summary.loc[0, "n"] == 1 and summary["miou_std"].isna().all()  # one seed: no spread
    assert list(summary.columns[-19:]) == list(TRAIN_CLASSES)


def test_gain_pairs_each_result_with_the_source_model_of_its_class_protocol(tmp_path):
    """On SYNTHIA with per-method protocols, CBST's 16-output rounds are compared with the 16-output
    source model and AdaptSegNet's 19-output model with the 19-output one, seed by seed."""
    paths = []
    for seed_dir, shift in (("", 0.0), ("seed1/", 1.0)):
        for run, miou, protocol in (
            ("source", 30.0, "19"),
            ("source_compact16", 34.0, "compact16"),
            ("cbst/round1", 37.0, "compact16"),
            ("adaptseg_single", 33.0, "19"),
        ):
            path = tmp_path / f"results/{seed_dir}{run}/miou.json"
            paths.append(write_result(path, miou + shift * (run != "source"), class_protocol=protocol))
    summary = summary_table(seed_table(read_results(paths))).set_index("method")
    assert summary.loc["cbst", "gain_mean"] == pytest.approx(3.0)  # 37 - 34 and 38 - 35
    assert summary.loc["adaptseg_single", "gain_mean"] == pytest.approx(3.5)  # 33 - 30 and 34 - 30
    assert summary.loc["cbst", "class_protocol"] == "compact16"
    assert summary.loc["source_compact16", "gain_mean"] == pytest.approx(0.0)


def test_run_name_from_path():
    assert run_name("results/cpsl/stage2/miou.json") == "cpsl/stage2"
    assert run_name("results/source/miou.json") == "source"
    assert run_name("results/seed4/cpsl/stage2/miou.json") == "seed4/cpsl/stage2"
