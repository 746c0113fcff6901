"""training.seeds: every method once per seed, seed 0 at the plain paths, and mean ± std over the seeds."""

import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import run_snakemake, tiny_config

from pipeline_lib import seeds
from pipeline_lib.data.labels import TRAIN_CLASSES
from pipeline_lib.jobs import summarize
from pipeline_lib.summary import mean_results, seed_table, split_run, summary_table


def test_seed_zero_keeps_the_plain_paths_and_other_seeds_get_a_folder():
    assert seeds.with_seed("results/cbst_sp/round3/miou.json", 0) == "results/cbst_sp/round3/miou.json"
    assert seeds.with_seed("results/cbst_sp/round3/miou.json", 3) == "results/seed3/cbst_sp/round3/miou.json"
    assert seeds.with_seed("work/source/model.pt", 1) == "work/seed1/source/model.pt"
    assert seeds.for_seeds(["results/source/miou.json"], [0, 2]) == [
        "results/source/miou.json",
        "results/seed2/source/miou.json",
    ]
    assert [seeds.seed_of(seeds.seed_dir(seed)) for seed in (0, 1, 12)] == [0, 1, 12]
    assert split_run("seed2/cbst_sp/round3") == (2, "cbst_sp", "round3")
    assert split_run("source") == (0, "source", "")
    assert seeds.split_seed_dir("seed12/source") == (12, "source")
    with pytest.raises(ValueError, match="not under one of results, work"):
        seeds.with_seed("data/converted/gta5/all.csv", 1)
    with pytest.raises(ValueError, match="seed<k>/ with k >= 1"):
        seeds.seed_of("seed0/")


def _result(miou: float, pixel_accuracy: float) -> dict:
    return {"miou": miou, "pixel_accuracy": pixel_accuracy, "per_class": {cls: miou for cls in TRAIN_CLASSES}}


def test_summary_pairs_each_gain_with_the_source_model_of_its_seed():
    results = {
        "source": _result(20.0, 60.0),
        "seed1/source": _result(24.0, 62.0),
        "seed2/source": _result(22.0, 61.0),
        "cbst_sp/round3": _result(23.0, 64.0),
        "seed1/cbst_sp/round3": _result(26.0, 66.0),
        "seed2/cbst_sp/round3": _result(25.0, 65.0),
    }
    per_seed = seed_table(results)
    assert per_seed[["method", "step", "seed"]].values.tolist()[:3] == [["cbst_sp", "round3", s] for s in (0, 1, 2)]
    summary = summary_table(per_seed).set_index("method")
    assert summary.loc["cbst_sp", "miou_mean"] == pytest.approx(24.6667, abs=1e-4)
    assert summary.loc["cbst_sp", "miou_std"] == pytest.approx(pd.Series([23.0, 26.0, 25.0]).std())
    # Paired gains 3, 2, 3: their spread (0.577) is far below that of the two means (1.5 and 2.0).
    assert summary.loc["cbst_sp", "gain_mean"] == pytest.approx(8 / 3)
    assert summary.loc["cbst_sp", "gain_std"] == pytest.approx(pd.Series([3.0, 2.0, 3.0]).std())
    assert summary.loc["cbst_sp", "seeds"] == "0 1 2" and summary.loc["cbst_sp", "n"] == 3
    means, spreads = mean_results(per_seed)
    assert means["cbst_sp/round3"]["miou"] == pytest.approx(24.6667, abs=1e-4)
    assert spreads["source"]["miou"] == pytest.approx(2.0)


@pytest.mark.workflow
def test_every_seed_runs_at_its_own_paths_and_the_summary_averages_them(workdir):
    config = tiny_config()
    config["training"]["seeds"] = [0, 1]
    targets = seeds.for_seeds(["results/source/miou.json"], [0, 1])
    result = run_snakemake(workdir, *targets, config=config)
    assert result.returncode == 0, result.stdout[-3000:]
    zero = json.loads((workdir / "results/source/miou.json").read_text())
    one = json.loads((workdir / "results/seed1/source/miou.json").read_text())
    assert (zero["seed"], one["seed"]) == (0, 1)
    assert (workdir / "work/seed1/source/model.pt").exists() and (workdir / "logs/seed1/train_source.log").exists()
    assert zero["confusion_matrix"] != one["confusion_matrix"]  # another init and data order, another model
    papers = Path(__file__).resolve().parents[1] / "workflow/report/papers.csv"
    summarize.run(
        [workdir / target for target in targets], workdir / "summary.csv", workdir / "seeds.csv", papers=papers
    )
    row = pd.read_csv(workdir / "summary.csv", keep_default_na=False).iloc[0]
    assert row["n"] == 2 and row["seeds"] == "0 1"
    assert row["paper"] == 36.6  # AdaptSegNet's source-only baseline, beside ours
    assert row["miou_mean"] == pytest.approx((zero["miou"] + one["miou"]) / 2, abs=1e-4)
    assert pd.read_csv(workdir / "seeds.csv")["seed"].tolist() == [0, 1]
