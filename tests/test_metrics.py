"""Confusion matrix and IoU against a brute-force pixel count."""

import numpy as np
import pytest
import torch

from pipeline_lib.data.labels import CLASSES_13, CLASSES_16
from pipeline_lib.metrics import ConfusionMatrix, per_class_iou, summarize


def brute_force_iou(pairs, num_classes):
    tp = np.zeros(num_classes)
    fp = np.zeros(num_classes)
    fn = np.zeros(num_classes)
    for prediction, target in pairs:
        for p, t in zip(prediction.ravel(), target.ravel(), strict=True):
            if t == 255:
                continue
            if p == t:
                tp[t] += 1
            else:
                fp[p] += 1
                fn[t] += 1
    with np.errstate(invalid="ignore"):
        return np.where(tp + fp + fn > 0, tp / (tp + fp + fn), np.nan)


def test_matrix_accumulated_over_images_matches_brute_force():
    rng = np.random.default_rng(0)
    pairs = []
    matrix = ConfusionMatrix(19)
    for _ in range(3):
        target = rng.integers(0, 19, (17, 23))
        target[rng.random(target.shape) < 0.2] = 255
        prediction = np.where(rng.random(target.shape) < 0.6, np.clip(target, 0, 18), rng.integers(0, 19, target.shape))
        pairs.append((prediction, target))
        matrix.update(torch.from_numpy(prediction), torch.from_numpy(target))
    np.testing.assert_allclose(per_class_iou(matrix.matrix.numpy()), brute_force_iou(pairs, 19))
    assert matrix.matrix.sum() == sum((t != 255).sum() for _, t in pairs)


def test_absent_class_is_nan_and_skipped_by_mean():
    matrix = np.zeros((19, 19), dtype=np.int64)
    matrix[0, 0] = 10
    matrix[1, 0] = 10
    iou = per_class_iou(matrix)
    assert iou[0] == pytest.approx(0.5) and iou[1] == 0.0 and np.isnan(iou[2])
    assert summarize(matrix, "gta5")["miou"] == pytest.approx(25.0)


def test_synthia_reports_sixteen_and_thirteen_class_means():
    rng = np.random.default_rng(1)
    matrix = rng.integers(0, 50, (19, 19)) + np.diag(rng.integers(100, 500, 19))
    iou = per_class_iou(matrix)
    scores = summarize(matrix, "synthia")
    assert scores["miou16"] == pytest.approx(iou[list(CLASSES_16)].mean() * 100, abs=1e-3)
    assert scores["miou13"] == pytest.approx(iou[list(CLASSES_13)].mean() * 100, abs=1e-3)
    assert "miou16" not in summarize(matrix, "gta5")
    assert len(scores["per_class"]) == 19 and scores["num_classes"] == 19


def test_prediction_out_of_range_is_an_error():
    with pytest.raises(ValueError, match="outside"):
        ConfusionMatrix(19).update(torch.tensor([19]), torch.tensor([3]))
