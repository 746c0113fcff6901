"""Case ``evaluate``: our label-ID PNG scoring vs the official cityscapesScripts evaluator, same files.

Synthetic Cityscapes-val-sized pairs (1024x2048): ground truth of blocky label IDs (void included),
predictions as our evaluation job writes them (train IDs mapped to label IDs, 30 % of 8x8 cells wrong).
Both sides read the same PNGs from disk and produce a 19-class mIoU; they must agree to 1e-6. The
official side is ``evaluateImgLists`` in-process with instance-level scoring off
(``pipeline_lib.official_eval``: its instance branch calls ``np.in1d``, gone in numpy >= 2.4).
Generating the files is not timed; each side gets one untimed warm-up image first.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from bench.common import Stopwatch

CITIES = ("frankfurt", "lindau", "munster")


def make_pairs(root: Path, count: int, seed: int = 0) -> tuple[list[str], list[str]]:
    from pipeline_lib.data.image_io import write_label
    from pipeline_lib.data.labels import cityscapes_to_train_id_lut, train_id_to_label_id_lut

    rng = np.random.default_rng(seed)
    to_train, to_label = cityscapes_to_train_id_lut(), train_id_to_label_id_lut()
    predictions, truths = [], []
    for index in range(count):
        name = f"{CITIES[index % 3]}_{index:06d}_000019"
        coarse = rng.integers(0, 34, (64, 128))
        truth = np.kron(coarse, np.ones((16, 16), dtype=np.int64)).astype(np.uint8)
        train = to_train[truth].astype(np.int64)
        predicted = np.where(train == 255, rng.integers(0, 19, truth.shape), train)
        # Errors in 8x8 cells, as a stride-8 network's upsampled output makes them (not pixel noise,
        # which no segmentation network produces and which would only inflate both sides' PNG decoding).
        cells = (128, 256)
        wrong = np.kron(rng.random(cells) < 0.3, np.ones((8, 8), dtype=bool))
        predicted[wrong] = np.kron(rng.integers(0, 19, cells), np.ones((8, 8), dtype=np.int64))[wrong]
        truth_path = root / "gtFine" / "val" / name.split("_")[0] / f"{name}_gtFine_labelIds.png"
        prediction_path = root / "pred" / f"{name}_leftImg8bit.png"
        write_label(truth_path, truth)
        write_label(prediction_path, to_label[predicted])
        predictions.append(str(prediction_path))
        truths.append(str(truth_path))
    return predictions, truths


def run(quick: bool) -> tuple[dict, list[dict]]:
    from pipeline_lib.evaluation import label_id_iou, score_label_id_pngs
    from pipeline_lib.official_eval import run_official_evaluator

    count = 10 if quick else 100
    workers = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory(prefix="udaflow-bench-eval-") as tmp:
        predictions, truths = make_pairs(Path(tmp), count + 1)
        score_label_id_pngs(predictions[:1], truths[:1], workers)
        run_official_evaluator(predictions[:1], truths[:1])
        predictions, truths = predictions[1:], truths[1:]
        with Stopwatch() as ours_time:
            iou = label_id_iou(score_label_id_pngs(predictions, truths, workers))
        with Stopwatch() as official_time:
            official = run_official_evaluator(predictions, truths)
    ours_miou = float(np.nanmean(iou))
    official_miou = float(official["averageScoreClasses"])
    difference = abs(ours_miou - official_miou)
    if difference > 1e-6:
        raise AssertionError(f"mIoU differs: ours {ours_miou:.9f}, official {official_miou:.9f}")
    row = {
        "images": count,
        "size_hw": [1024, 2048],
        "ours_seconds": round(ours_time.seconds, 3),
        "official_seconds": round(official_time.seconds, 3),
        "ours_ms_per_image": round(1000 * ours_time.seconds / count, 2),
        "official_ms_per_image": round(1000 * official_time.seconds / count, 2),
        "speedup": round(official_time.seconds / ours_time.seconds, 2),
        "ours_miou": ours_miou,
        "official_miou": official_miou,
        "miou_difference": difference,
        "ours_threads": workers,
    }
    payload = {
        "what": "19-class mIoU of label-ID prediction PNGs: pipeline_lib.evaluation.score_label_id_pngs vs "
        "cityscapesScripts evaluateImgLists (instance level off), the same files",
        "target": "ours >= 20x faster, mIoU identical to 1e-6",
        "note": "both sides decode two 2048x1024 PNGs per image; ours then counts one 256x256 byte-pair "
        "histogram per image in worker threads, the official tool np.unique of 34*gt+pred per image",
        "results": [row],
    }
    return payload, [row]


COLUMNS = ["images", "ours_ms_per_image", "official_ms_per_image", "speedup", "ours_miou", "official_miou",
           "miou_difference", "ours_threads"]
