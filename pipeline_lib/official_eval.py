"""Cross-check with the official cityscapesScripts pixel-level evaluator.

The official tool is called in-process through ``evaluateImgLists`` with explicit, position-paired
file lists (its CLI classifies paths by substring and is fragile), with instance-level scoring off:
that branch calls ``np.in1d``, which numpy >= 2.4 removed, and needs ``*_instanceIds.png`` files
(``shared/spec/datasets_eval.md`` §4.3). Its class IoUs are then the same quantity as ours.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline_lib.data.labels import TRAIN_CLASSES
from pipeline_lib.metrics import per_class_iou

_LABEL_ID_SUFFIX = "_leftImg8bit.png"


def pair_predictions(file_list: pd.DataFrame, cityscapes_root: Path, label_ids_dir: Path) -> tuple[list, list]:
    """(predictions, ground truths) for every val image: ``<name>_leftImg8bit.png`` vs its gtFine labelIds."""
    predictions, ground_truths = [], []
    for name in file_list["name"]:
        city = name.split("_")[0]
        prediction = label_ids_dir / f"{name}{_LABEL_ID_SUFFIX}"
        if not prediction.exists():
            raise FileNotFoundError(
                f"{prediction}: no label-ID prediction (set evaluation.save_label_ids: true to write them)"
            )
        predictions.append(str(prediction))
        ground_truths.append(str(cityscapes_root / "gtFine" / "val" / city / f"{name}_gtFine_labelIds.png"))
    return predictions, ground_truths


def run_official_evaluator(predictions: list[str], ground_truths: list[str]) -> dict:
    """The official scores: ``averageScoreClasses`` (mIoU in [0,1]) and ``classScores`` by class name."""
    import cityscapesscripts.evaluation.evalPixelLevelSemanticLabeling as official

    args = official.args
    args.evalInstLevelScore = False
    args.JSONOutput = False
    args.quiet = True
    args.colorized = False
    try:
        return official.evaluateImgLists(predictions, ground_truths, args)
    except SystemExit as err:  # the tool reports errors with printError -> sys.exit(-1)
        message = f"the official cityscapesScripts evaluator stopped (exit {err.code}); see its output"
        raise RuntimeError(message) from err


def official_summary(result: dict) -> dict:
    """mIoU and per-class IoU in percent, keyed like our ``miou.json``."""

    def percent(value: float) -> float | None:
        return None if value is None or math.isnan(value) else round(value * 100, 4)

    return {
        "miou": percent(result["averageScoreClasses"]),
        "per_class": {name: percent(result["classScores"][name]) for name in TRAIN_CLASSES},
        "evaluator": "cityscapesScripts evalPixelLevelSemanticLabeling (instance level off)",
    }


#: Largest |official - ours| mIoU (as a fraction) that counts as agreement: both count the same pixels.
AGREEMENT_TOLERANCE = 1e-6


def check_agreement(official: dict, ours_confusion: list[list[int]], ours_path: str) -> float:
    """|official - ours| mIoU as a fraction, from the official raw score and our stored confusion matrix.

    Both are unrounded (``miou.json``'s ``miou`` is rounded to 1e-4 percent), so any difference above
    ``AGREEMENT_TOLERANCE`` is a real disagreement: a ``ValueError`` naming both numbers.
    """
    official_miou = official["averageScoreClasses"]
    ours_miou = float(np.nanmean(per_class_iou(np.asarray(ours_confusion, dtype=np.int64))))
    if official_miou is None or math.isnan(official_miou):
        raise ValueError("the official evaluator scored no class (no ground-truth pixels matched)")
    difference = abs(official_miou - ours_miou)
    if difference > AGREEMENT_TOLERANCE:
        raise ValueError(
            f"official mIoU {official_miou * 100:.6f} differs from {ours_path}'s {ours_miou * 100:.6f} by "
            f"{difference * 100:.6f} points: the label-ID PNGs and our confusion matrix disagree"
        )
    return difference
