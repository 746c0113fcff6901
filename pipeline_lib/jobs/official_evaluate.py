"""Job: score a result's label-ID PNGs with the official evaluator; a disagreement with our miou.json fails it."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from pipeline_lib.atomic import write_json
from pipeline_lib.data.datasets import read_file_list
from pipeline_lib.official_eval import check_agreement, official_summary, pair_predictions, run_official_evaluator

log = logging.getLogger(__name__)


def run(
    label_ids_dir: str | Path,
    file_list: str | Path,
    ours_path: str | Path,
    cityscapes_root: str | Path,
    out: str | Path,
) -> dict:
    rows = read_file_list(file_list)
    predictions, ground_truths = pair_predictions(rows, Path(cityscapes_root), Path(label_ids_dir))
    official = run_official_evaluator(predictions, ground_truths)
    ours = json.loads(Path(ours_path).read_text())
    difference = check_agreement(official, ours["confusion_matrix"], str(ours_path))
    summary = official_summary(official)
    summary["udaflow_miou"] = ours["miou"]
    summary["difference"] = difference * 100  # percentage points, unrounded; at most 1e-4 by check_agreement
    write_json(out, summary)
    log.info(
        "official mIoU %.4f, udaflow %.4f, difference %.2g points", summary["miou"], ours["miou"], summary["difference"]
    )
    return summary
