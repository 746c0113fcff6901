"""Job: one self-training method's pseudo-label statistics per round (CSV, heatmaps) and its panels.

Inputs per round r (rules/self_training.smk): ``thresholds.json``, the pseudo-label lists of every
shard, and shard 0's prediction store, whose first images give the panels image | ground truth |
prediction | pseudo-label. "Prediction" is the argmax of the scores the pseudo-labels threshold
(round r-1's model, spatial prior applied when the method uses one), so the panel shows what the
thresholds removed.
"""

from __future__ import annotations

import itertools
import json
import logging
from pathlib import Path

import pandas as pd

from pipeline_lib.atomic import atomic_path
from pipeline_lib.data.datasets import read_file_list
from pipeline_lib.data.image_io import read_index_label, read_rgb
from pipeline_lib.data.labels import colorize
from pipeline_lib.jobs.selftrain_predict import load_prior
from pipeline_lib.progress import Progress
from pipeline_lib.report.figure_files import save_figure
from pipeline_lib.report.panels import image_grid, shrink
from pipeline_lib.report.pseudo_labels import LabelCounts, round_statistics, statistics_figure
from pipeline_lib.selftrain.prediction_store import full_resolution, read_predictions
from pipeline_lib.selftrain.spatial_prior import SpatialPrior

log = logging.getLogger(__name__)



def _round_counts(pseudo: pd.DataFrame, truth_by_name: dict[str, str], round_index: int) -> LabelCounts:
    counts = LabelCounts()
    progress = Progress(f"round {round_index} pseudo-label statistics", len(pseudo))
    for row in pseudo.itertuples(index=False):
        truth = truth_by_name.get(row.name)
        counts.update(read_index_label(row.label), read_index_label(truth) if truth else None)
        progress.advance()
    return counts


def _panel_rows(store: str, pseudo: pd.DataFrame, prior: SpatialPrior | None, images: int, round_index: int):
    """(row label, [image, ground truth, prediction, pseudo-label]) for the first ``images`` of ``store``."""
    pseudo_by_name = dict(zip(pseudo["name"], pseudo["label"], strict=True))
    for item in itertools.islice(read_predictions(store), images):
        scores = full_resolution(item)
        if prior is not None:
            scores = prior.apply(scores)
        prediction = colorize(scores.argmax(dim=0).numpy())
        truth = colorize(read_index_label(item.label)) if item.label else None
        cells = [
            shrink(read_rgb(item.image), is_label=False),
            shrink(truth, is_label=True) if truth is not None else None,
            shrink(prediction, is_label=True),
            shrink(colorize(read_index_label(pseudo_by_name[item.name])), is_label=True),
        ]
        yield f"round {round_index}\n{Path(item.name).name}", cells


def run(
    thresholds: list[str],
    pseudo_lists: list[str],
    stores: list[str],
    target_list: str | Path,
    prior_path: str | Path | None,
    stats_out: str | Path,
    figure_out: str | Path,
    panels_out: str | Path,
    *,
    method: str,
    rounds: list[int],
    panel_images: int,
) -> pd.DataFrame:
    if not (len(thresholds) == len(stores) == len(rounds)) or len(pseudo_lists) % len(rounds):
        raise ValueError(
            f"{method}: {len(thresholds)} thresholds, {len(stores)} stores and {len(pseudo_lists)} pseudo-label "
            f"lists do not make {len(rounds)} rounds"
        )
    shards = len(pseudo_lists) // len(rounds)
    truth_by_name = {row.name: row.label for row in read_file_list(target_list).itertuples(index=False) if row.label}
    prior = load_prior(prior_path)
    tables, panel_labels, panel_cells = [], [], []
    for index, round_index in enumerate(rounds):
        lists = pseudo_lists[index * shards : (index + 1) * shards]
        pseudo = pd.concat([read_file_list(path) for path in lists], ignore_index=True)
        payload = json.loads(Path(thresholds[index]).read_text())
        tables.append(round_statistics(round_index, payload, _round_counts(pseudo, truth_by_name, round_index)))
        for label, cells in _panel_rows(stores[index], pseudo, prior, panel_images, round_index):
            panel_labels.append(label)
            panel_cells.append(cells)
    stats = pd.concat(tables, ignore_index=True)
    with atomic_path(stats_out) as tmp:
        stats.to_csv(tmp, index=False, float_format="%.4f")
    save_figure(statistics_figure(stats, method), figure_out)
    titles = ["image", "ground truth", "prediction (previous round)", "pseudo-label"]
    panels = image_grid(panel_cells, panel_labels, titles, f"{method}: target training images per round")
    save_figure(panels, panels_out)
    overall = stats[stats["class"] == "all"].set_index("round")
    for round_index, row in overall.iterrows():
        log.info(
            "%s round %d: %.1f%% of pixels pseudo-labelled, %.1f%% agree with the ground truth",
            method, round_index, row["labelled_share"], row["agreement"],
        )
    return stats
