"""Job: one shard's pseudo-label PNGs (train IDs, 255 = ignore) and its ``name,image,label`` list."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline_lib.atomic import atomic_path
from pipeline_lib.data.image_io import read_train_id_label, write_label
from pipeline_lib.data.labels import IGNORE_INDEX, output_to_train_id_lut
from pipeline_lib.jobs.selftrain_predict import load_prior
from pipeline_lib.progress import Progress
from pipeline_lib.selftrain.prediction_store import full_resolution, prediction_count, read_predictions
from pipeline_lib.selftrain.pseudo_labels import assign_labels

log = logging.getLogger(__name__)


def read_thresholds(path: str | Path) -> tuple[np.ndarray, float]:
    """The class thresholds of a ``thresholds.json`` and the floor labels divide by."""
    payload = json.loads(Path(path).read_text())
    for key in ("thresholds", "floor"):
        if key not in payload:
            raise ValueError(f"{path}: missing key {key!r} (a file from an older udaflow: delete it to recompute)")
    return np.asarray(list(payload["thresholds"].values()), dtype=np.float64), float(payload["floor"])


def run(
    store: str | Path, thresholds_path: str | Path, prior_path: str | Path | None, labels_dir: str | Path,
    file_list_out: str | Path,
) -> None:
    thresholds, floor = read_thresholds(thresholds_path)
    prior = load_prior(prior_path)
    labels_dir = Path(labels_dir)
    labels_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    labelled = correct = total = 0
    progress = Progress(f"pseudo-labelled {Path(store).stem}", prediction_count(store))
    for item in read_predictions(store):
        scores = full_resolution(item)
        if prior is not None:
            scores = prior.apply(scores)
        # The network's outputs as train IDs on disk (the identity unless it is a compact16 network).
        label = output_to_train_id_lut(len(thresholds))[assign_labels(scores, thresholds, floor).numpy()]
        path = labels_dir / f"{Path(item.name).name}.png"
        write_label(path, label)
        rows.append({"name": item.name, "image": item.image, "label": str(path)})
        keep = label != IGNORE_INDEX
        labelled += int(keep.sum())
        total += label.size
        if item.label:  # diagnostics only (CBST logs pseudo-label quality on Cityscapes train, §4.6)
            truth = read_train_id_label(item.label)
            correct += int((label[keep] == truth[keep]).sum())
        progress.advance()
    if not rows:
        raise ValueError(f"{store}: the shard holds no predictions")
    with atomic_path(file_list_out) as tmp:
        pd.DataFrame(rows, columns=["name", "image", "label"]).to_csv(tmp, index=False)
    log.info(
        "%d pseudo-labels, %.1f%% of pixels labelled%s", len(rows), 100 * labelled / max(total, 1),
        f", {100 * correct / max(labelled, 1):.1f}% of them agree with the ground truth" if correct else "",
    )
