"""Tables of every result: one row per seed, and mean ± std over the seeds per method and round/stage.

A method's gain is measured against source-only training of the same seed (both start from that
seed's initialisation and data order) and the same class protocol (``source_compact16`` for a
16-output result, ``pipeline_lib.class_protocols``), so its spread is the spread of the paired
differences, not of two independent means. Standard deviations are the sample std (ddof=1) over the seeds; with one
seed they are empty.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from pipeline_lib import class_protocols, seeds
from pipeline_lib.data.labels import TRAIN_CLASSES

#: The headline figures of a result, averaged over the seeds.
SCORES = ("miou", "pixel_accuracy", "miou16", "miou13")


def run_name(miou_path: str | Path) -> str:
    """``results/seed2/cbst_sp/round3/miou.json`` -> ``seed2/cbst_sp/round3`` (seed 0: ``cbst_sp/round3``)."""
    parts = Path(miou_path).parent.parts
    return "/".join(parts[parts.index("results") + 1 :]) if "results" in parts else Path(miou_path).parent.name


def split_run(name: str) -> tuple[int, str, str]:
    """``seed2/cbst_sp/round3`` -> (2, "cbst_sp", "round3"); ``source`` -> (0, "source", "")."""
    seed, name = seeds.split_seed_dir(name)
    method, _, step = name.partition("/")
    return seed, method, step


def step_run_name(method: str, step: str) -> str:
    """Seed 0's inverse of ``split_run``: ("cbst_sp", "round3") -> ``cbst_sp/round3``, ("source", "") -> ``source``."""
    return f"{method}/{step}" if step else method


def read_results(paths: Iterable[str | Path]) -> dict[str, dict]:
    return {run_name(path): json.loads(Path(path).read_text()) for path in paths}


def seed_table(results: dict[str, dict]) -> pd.DataFrame:
    """One row per result: method, step, seed, class protocol, the headline scores and the 19 per-class IoUs."""
    rows = []
    for name, scores in results.items():
        seed, method, step = split_run(name)
        rows.append(
            {
                "method": method,
                "step": step,
                "seed": seed,
                "class_protocol": scores.get("class_protocol", "19"),  # files written before it had one: 19 outputs
                **{key: scores.get(key) for key in SCORES},
                **{cls: scores["per_class"].get(cls) for cls in TRAIN_CLASSES},
            }
        )
    columns = ["method", "step", "seed", "class_protocol", *SCORES, *TRAIN_CLASSES]
    table = pd.DataFrame(rows, columns=columns)
    return table.sort_values(["method", "step", "seed"], kind="stable").reset_index(drop=True)


def summary_table(per_seed: pd.DataFrame) -> pd.DataFrame:
    """Per method and step: the class protocol, the seeds, mean and std of each score, the gain over
    source-only of the same seed and protocol (mean and std), and the per-class IoU means (of the
    columns ``per_seed`` has; without ``class_protocol`` every result is taken as 19-output)."""
    scores = [key for key in SCORES if key in per_seed]
    classes = [cls for cls in TRAIN_CLASSES if cls in per_seed]
    table = per_seed.astype({key: float for key in (*scores, *classes)})
    if "class_protocol" not in table:
        table["class_protocol"] = "19"
    single = table[table["step"] == ""].set_index(["method", "seed"])["miou"]
    baselines = zip(table["class_protocol"].map(class_protocols.baseline_run), table["seed"], strict=True)
    table["gain"] = table["miou"] - [single.get(key, float("nan")) for key in baselines]
    grouped = table.groupby(["method", "step"], sort=True)
    summary = grouped.agg(
        class_protocol=("class_protocol", "first"),
        seeds=("seed", lambda values: " ".join(str(seed) for seed in sorted(values))),
        n=("seed", "size"),
        **{f"{key}_{stat}": (key, stat) for key in (*scores, "gain") for stat in ("mean", "std")},
        **{cls: (cls, "mean") for cls in classes},
    )
    return summary.reset_index()


def mean_results(per_seed: pd.DataFrame) -> tuple[dict[str, dict], dict[str, dict]]:
    """The results averaged over the seeds, as parsed ``miou.json`` (run name -> scores), and their stds.

    What the report's figures and tables take: a run ``cbst_sp/round3`` stands for all its seeds;
    ``gain`` is the paired gain over source-only of the same seeds (absent without a source result).
    """
    summary = summary_table(per_seed)
    means: dict[str, dict] = {}
    spreads: dict[str, dict] = {}
    for row in summary.to_dict("records"):
        name = step_run_name(row["method"], row["step"])
        means[name] = {
            **{key: _number(row[f"{key}_mean"]) for key in (*SCORES, "gain") if not pd.isna(row[f"{key}_mean"])},
            "per_class": {cls: _number(row[cls]) for cls in TRAIN_CLASSES},
            "class_protocol": row["class_protocol"],
            "seeds": row["n"],
        }
        spreads[name] = {
            key: _number(row[f"{key}_std"]) for key in (*SCORES, "gain") if not pd.isna(row[f"{key}_mean"])
        }
    return means, spreads


def _number(value: float) -> float | None:
    return None if pd.isna(value) else float(value)
