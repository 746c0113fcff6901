"""The method x target table: every reported result scored on the adaptation target and on each
dataset of ``evaluation.targets``, mean ± std over the seeds.

Where a model is scored decides what its number means: a method tuned on Cityscapes may lose on
night or fog frames. The cells come from ``results/<run>/miou.json`` (the target the run adapted to)
and ``results/<run>/eval/<dataset>/miou.json`` (rule evaluate_on); each file names its dataset.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from pipeline_lib import seeds
from pipeline_lib.report.plots import CELL_STYLE
from pipeline_lib.summary import run_name

#: ``miou.json`` files written before they named their dataset scored Cityscapes.
DEFAULT_DATASET = "cityscapes"


def eval_paths(runs: Iterable[str], datasets: Sequence[str]) -> list[str]:
    """Seed 0's per-dataset result files of ``runs`` (run names such as ``cbst_sp/round3``)."""
    return [f"results/{run}/eval/{dataset}/miou.json" for run in runs for dataset in datasets]


def target_rows(paths: Iterable[str | Path]) -> pd.DataFrame:
    """One row per result file: run (without its seed folder), seed, dataset, mIoU."""
    rows = []
    for path in paths:
        scores = json.loads(Path(path).read_text())
        seed, name = seeds.split_seed_dir(run_name(path))
        rows.append({
            "run": name.partition("/eval/")[0],
            "seed": seed,
            "dataset": scores.get("dataset", DEFAULT_DATASET),
            "miou": scores["miou"],
        })
    return pd.DataFrame(rows, columns=["run", "seed", "dataset", "miou"])


def target_table(rows: pd.DataFrame, runs: Sequence[str], datasets: Sequence[str]) -> pd.DataFrame:
    """Rows = ``runs`` in order, columns = per dataset (in ``datasets`` order) its mean mIoU, std and seeds."""
    grouped = rows.astype({"miou": float}).groupby(["run", "dataset"])["miou"].agg(["mean", "std", "size"])
    table = grouped.unstack("dataset").reindex(index=list(runs))
    columns = {}
    for dataset in datasets:
        for stat, label in (("mean", dataset), ("std", f"{dataset} std"), ("size", f"{dataset} seeds")):
            columns[label] = table[(stat, dataset)] if (stat, dataset) in table else pd.Series(index=table.index)
    frame = pd.DataFrame(columns)
    frame.index.name = "run"
    return frame


def target_html(frame: pd.DataFrame) -> str:
    """The table as standalone HTML: mIoU cells on one 0-100 colour scale, spreads as ±."""
    frame = frame.rename_axis(None)
    means = [column for column in frame.columns if not column.endswith((" std", " seeds"))]
    formats = {column: "{:.1f}" for column in means}
    formats |= {column: "±{:.1f}" for column in frame.columns if column.endswith(" std")}
    formats |= {column: "{:.0f}" for column in frame.columns if column.endswith(" seeds")}
    styled = (
        frame.style.format(formats, na_rep="–")
        .background_gradient(cmap="YlGn", axis=None, vmin=0.0, vmax=100.0, subset=means)
        .set_table_styles([CELL_STYLE])
    )
    return styled.to_html(doctype_html=True)
