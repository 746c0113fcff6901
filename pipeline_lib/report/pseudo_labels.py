"""Per-round pseudo-label statistics of the self-training methods, and their figure.

For round r of a method (rules/self_training.smk), the inputs are the round's ``thresholds.json``
(t_c, the target portion p_r and n_c, the pixels whose prior-weighted argmax is c; cbst_mlsl.md
§4.4) and its pseudo-label PNGs (255 = ignore; §4.5). Per class the table gives:

- ``threshold``: t_c;
- ``argmax_share``: n_c / Σ n — how much of the target set the model predicts as c (stride 8);
- ``labelled_share``: pixels labelled c / all pixels — what the fine-tuning actually trains on;
- ``agreement``: of the pixels labelled c that have a ground-truth label, the share whose ground
  truth is c (the pseudo-labels' precision; CBST logs the same diagnostic on Cityscapes train, §4.6).
  NaN when the target list has no ground truth.

The row ``all`` sums over classes (labelled share of every pixel, overall agreement).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from pipeline_lib.data.labels import IGNORE_INDEX, TRAIN_CLASSES

ALL = "all"
COLUMNS = ("round", "class", "target_portion", "threshold", "argmax_share", "labelled_share", "agreement")


class LabelCounts:
    """Running per-class counts over a round's pseudo-label images."""

    def __init__(self, num_classes: int = len(TRAIN_CLASSES)) -> None:
        self.num_classes = num_classes
        self.labelled = np.zeros(num_classes, dtype=np.int64)
        self.checked = np.zeros(num_classes, dtype=np.int64)  # labelled pixels with a ground-truth label
        self.agreeing = np.zeros(num_classes, dtype=np.int64)
        self.pixels = 0
        self.with_truth = False

    def update(self, pseudo: np.ndarray, truth: np.ndarray | None) -> None:
        """Add one image: ``pseudo`` (H×W train IDs, 255 = ignore) and its ground truth or None."""
        bad = np.setdiff1d(np.unique(pseudo), [*range(self.num_classes), IGNORE_INDEX])
        if bad.size:
            raise ValueError(f"pseudo-label values {bad.tolist()} are neither train IDs nor {IGNORE_INDEX}")
        self.pixels += pseudo.size
        labelled = pseudo != IGNORE_INDEX
        self.labelled += np.bincount(pseudo[labelled], minlength=self.num_classes)[: self.num_classes]
        if truth is None:
            return
        if truth.shape != pseudo.shape:
            raise ValueError(f"ground truth {truth.shape} and pseudo-label {pseudo.shape} differ in size")
        self.with_truth = True
        checked = labelled & (truth != IGNORE_INDEX)
        self.checked += np.bincount(pseudo[checked], minlength=self.num_classes)[: self.num_classes]
        agreeing = checked & (pseudo == truth)
        self.agreeing += np.bincount(pseudo[agreeing], minlength=self.num_classes)[: self.num_classes]


def _percent(part: float, whole: float) -> float:
    return 100.0 * part / whole if whole else math.nan


def round_statistics(round_index: int, thresholds: Mapping, counts: LabelCounts) -> pd.DataFrame:
    """One row per class and an ``all`` row, from a parsed ``thresholds.json`` and the round's counts."""
    names = list(thresholds["thresholds"])  # the network's outputs (16 of the train classes for compact16)
    unknown = [name for name in names if name not in TRAIN_CLASSES[: counts.num_classes]]
    if unknown:
        raise ValueError(f"thresholds.json names classes {unknown} the pseudo-labels' train IDs do not have")
    argmax = np.asarray([thresholds["class_pixels"][name] for name in names], dtype=np.float64)
    rows = []
    for index, name in enumerate(names):
        train_id = TRAIN_CLASSES.index(name)  # the pseudo-label PNGs hold train IDs
        rows.append(
            {
                "class": name,
                "threshold": thresholds["thresholds"][name],
                "argmax_share": _percent(argmax[index], argmax.sum()),
                "labelled_share": _percent(counts.labelled[train_id], counts.pixels),
                "agreement": (
                    _percent(counts.agreeing[train_id], counts.checked[train_id]) if counts.with_truth else math.nan
                ),
            }
        )
    rows.append(
        {
            "class": ALL,
            "threshold": math.nan,
            "argmax_share": 100.0,
            "labelled_share": _percent(counts.labelled.sum(), counts.pixels),
            "agreement": _percent(counts.agreeing.sum(), counts.checked.sum()) if counts.with_truth else math.nan,
        }
    )
    frame = pd.DataFrame(rows)
    frame.insert(0, "target_portion", thresholds["target_portion"])
    frame.insert(0, "round", round_index)
    return frame[list(COLUMNS)]


_HEATMAPS = (
    ("threshold", "threshold $t_c$", "{:.2f}", (0.0, 1.0)),
    ("labelled_share", "labelled pixels (% of all)", "{:.1f}", None),
    ("agreement", "agreement with ground truth (%)", "{:.0f}", (0.0, 100.0)),
)


def statistics_figure(stats: pd.DataFrame, method: str) -> Figure:
    """Three class × round heatmaps (threshold, labelled share, agreement), each cell annotated."""
    rounds = sorted(stats["round"].unique())
    classes = list(dict.fromkeys(stats["class"]))
    portions = stats.groupby("round")["target_portion"].first()
    figure = Figure(figsize=(3.0 + 3 * (1.2 + 0.55 * len(rounds)), 0.26 * len(classes) + 1.6), layout="constrained")
    axes = figure.subplots(1, len(_HEATMAPS), sharey=True)
    for axis, (column, title, fmt, limits) in zip(axes, _HEATMAPS, strict=True):
        grid = stats.pivot(index="class", columns="round", values=column).reindex(index=classes, columns=rounds)
        values = grid.to_numpy(dtype=float)
        vmin, vmax = limits or (0.0, max(np.nanmax(values[:-1]) if np.isfinite(values[:-1]).any() else 1.0, 1e-6))
        image = axis.imshow(np.ma.masked_invalid(values), cmap="viridis", vmin=vmin, vmax=vmax, aspect="auto")
        for (row, col), value in np.ndenumerate(values):
            if np.isfinite(value):
                light = (value - vmin) / (vmax - vmin) > 0.6 if vmax > vmin else False
                axis.text(col, row, fmt.format(value), ha="center", va="center", fontsize=6.5,
                          color="black" if light else "white")
        axis.set_xticks(range(len(rounds)), [f"r{r}\np={portions[r]:.2f}" for r in rounds], fontsize=7)
        axis.set_yticks(range(len(classes)), classes, fontsize=7)
        axis.axhline(len(classes) - 1.5, color="white", linewidth=1.5)  # separates the "all" row
        axis.set_title(title, fontsize=9)
        figure.colorbar(image, ax=axis, shrink=0.6)
    figure.suptitle(f"{method}: pseudo-labels per round", fontsize=11)
    return figure
