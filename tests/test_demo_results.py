"""tools/demo_results.py: the documented demo numbers come from a run's files, and README.md shows exactly them."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from pipeline_lib.data.labels import TRAIN_CLASSES

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))

import demo_results  # noqa: E402


def _write(results: Path, name: str, miou: float, commit: str = "abc") -> None:
    path = results / name / "miou.json"
    path.parent.mkdir(parents=True)
    provenance = {"git": {"commit": commit, "dirty": False}, "versions": {"torch": "2.13.0"}, "cpu_code_path": {}}
    per_class = {cls: miou for cls in TRAIN_CLASSES}
    scores = {"miou": miou, "pixel_accuracy": 60.0, "per_class": per_class, "provenance": provenance}
    path.write_text(json.dumps(scores))


def test_collect_reads_every_seed_and_leaves_the_report_out(tmp_path):
    results = tmp_path / "results"
    runs = {"source": 20.0, "seed1/source": 22.0, "cbst_sp/round3": 23.0, "seed1/cbst_sp/round3": 24.0}
    for name, miou in runs.items():
        _write(results, name, miou)
    (results / "report").mkdir()
    (results / "report" / "miou.json").write_text("not a result")
    table, environment = demo_results.collect(results)
    assert list(table.columns) == ["method", "step", "seed", "miou", "pixel_accuracy"]
    assert table[["method", "step", "seed", "miou"]].values.tolist() == [
        ["cbst_sp", "round3", 0, 23.0],
        ["cbst_sp", "round3", 1, 24.0],
        ["source", "", 0, 20.0],
        ["source", "", 1, 22.0],
    ]
    assert environment["results"] == 4 and environment["commits"] == ["abc"]
    assert environment["versions"] == {"torch": "2.13.0"}


def test_update_replaces_the_remeasured_method_seeds_and_keeps_the_others(tmp_path):
    old_results, new_results = tmp_path / "old" / "results", tmp_path / "new" / "results"
    old_runs = {"source": 20.0, "cpsl/stage1": 25.0, "cpsl/stage2": 21.0, "seed1/cpsl/stage1": 26.0, "dasac": 24.0}
    for name, miou in old_runs.items():
        _write(old_results, name, miou, commit="old")
    for name, miou in {"source": 20.0, "cpsl/stage1": 27.0, "cpsl_warmup": 23.0}.items():
        _write(new_results, name, miou, commit="new")
    old, old_environment = demo_results.collect(old_results)
    new, new_environment = demo_results.collect(new_results)
    table, environment = demo_results.update(old, old_environment, new, new_environment)
    assert table[["method", "step", "seed", "miou"]].values.tolist() == [
        ["cpsl", "stage1", 0, 27.0],  # seed 0's old stage-2 row goes with its re-measured seed
        ["cpsl", "stage1", 1, 26.0],  # seed 1 was not re-measured
        ["cpsl_warmup", "", 0, 23.0],
        ["dasac", "", 0, 24.0],
        ["source", "", 0, 20.0],
    ]
    assert environment["commits"] == ["new", "old"] and environment["results"] == 5
    # A method whose code changed: its rows that were not re-measured go, not only the re-measured seeds'.
    table, _ = demo_results.update(old, old_environment, new, new_environment, stale=("cpsl",))
    assert table[table["method"] == "cpsl"][["seed", "miou"]].values.tolist() == [[0, 27.0]]
    assert environment["versions"] == {"torch": "2.13.0"}


def test_table_gives_mean_std_paired_gain_and_whether_it_exceeds_the_spread():
    per_seed = pd.DataFrame(
        [
            ("source", "", 0, 20.0, 60.0), ("source", "", 1, 24.0, 61.0), ("source", "", 2, 22.0, 62.0),
            ("cbst_sp", "round3", 0, 23.0, 64.0), ("cbst_sp", "round3", 1, 26.0, 65.0),
            ("cbst_sp", "round3", 2, 25.0, 66.0), ("st", "round3", 0, 19.0, 50.0), ("st", "round3", 1, 25.0, 51.0),
            ("st", "round3", 2, 22.0, 52.0),
        ],
        columns=demo_results.COLUMNS,
    )
    environment = {"results": 9, "commits": ["0123456789ab"], "versions": {}, "cpu_code_path": {}, "lock_sha256": "f"}
    rows = demo_results.markdown(per_seed, environment).splitlines()
    assert rows[2].startswith("| source only | – | 22.00 ± 2.00 | – | – | 61.0 | 0 1 2 | 20.00 |")
    assert rows[3] == "| ST | round3 | 22.00 ± 3.00 | +0.00 ± 1.00 | no | 51.0 | 0 1 2 | 19.00 |"
    # Gains 3, 2, 3 over the same seed's source model: +2.67 ± 0.58, beyond its spread.
    assert rows[4] == "| CBST-SP | round3 | 24.67 ± 1.53 | +2.67 ± 0.58 | yes, gain | 65.0 | 0 1 2 | 23.00 |"


def test_staged_methods_are_also_compared_with_the_model_they_start_from():
    per_seed = pd.DataFrame(
        [
            ("source", "", 0, 20.0, 60.0), ("source", "", 1, 24.0, 61.0),
            ("cpsl_warmup", "", 0, 21.0, 60.0), ("cpsl_warmup", "", 1, 23.0, 60.0),
            ("cpsl", "stage1", 0, 24.0, 60.0), ("cpsl", "stage1", 1, 25.0, 60.0),
            ("cpsl", "stage2", 0, 20.0, 60.0),
        ],
        columns=demo_results.COLUMNS,
    )
    lines = demo_results.over_start_lines(per_seed)
    assert lines[1].startswith("| method | step | gain over the model it starts from")
    # stage 1: +3 and +2 over the same seed's warm-up
    assert lines[3] == "| CPSL | stage1 | +2.50 ± 0.71 (over CPSL warm-up) | yes, gain | 0 1 |"
    assert lines[4] == "| CPSL | stage2 | -1.00 (over CPSL warm-up) | one seed | 0 |"
    assert demo_results.over_start_lines(per_seed[per_seed["method"] != "cpsl_warmup"]) == []


def test_readme_table_is_the_committed_csv():
    checked = subprocess.run(
        [sys.executable, str(REPO / "tools" / "demo_results.py"), "render", "--check"], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout


def test_render_refuses_a_readme_without_markers():
    with pytest.raises(SystemExit, match="lacks the markers"):
        demo_results.render("# no table here\n", "| a |")
