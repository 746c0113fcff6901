"""Confusion matrix and IoU against a brute-force pixel count."""

import numpy as np
import pytest
import torch

from pipeline_lib.data.labels import CLASSES_13, CLASSES_16, IGNORE_INDEX
from pipeline_lib.evaluation import compact16_as_train_ids
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


def test_cross_city_reports_its_thirteen_class_mean():
    """Cross-City labels 13 classes: a prediction of wall is only a false positive there, so its papers
    average those 13 (issue 21)."""
    matrix = np.zeros((19, 19), dtype=np.int64)
    for train_id in CLASSES_13:
        matrix[train_id, train_id] = 10
    matrix[0, 3] = 10  # road pixels predicted as wall, a class Cross-City does not label
    scores = summarize(matrix, "gta5", dataset="crosscity")
    assert scores["per_class"]["wall"] == 0.0 and scores["per_class"]["road"] == pytest.approx(50.0)
    assert scores["miou13"] == pytest.approx((50.0 + 12 * 100.0) / 13, abs=1e-3)
    assert scores["miou"] == pytest.approx((50.0 + 12 * 100.0) / 14, abs=1e-3)  # wall's 0 drags the 19-class mean
    assert "miou13" not in summarize(matrix, "gta5", dataset="bdd100k")


def test_prediction_out_of_range_is_an_error():
    with pytest.raises(ValueError, match="outside"):
        ConfusionMatrix(19).update(torch.tensor([19]), torch.tensor([3]))


def test_compact16_network_is_scored_with_terrain_truck_train_ignored():
    """Issue 17: a 16-output network (CBST, ProDA/CPSL on SYNTHIA): its argmax 0..15 are the 16 shared
    classes' train IDs, and ground truth of terrain/truck/train is ignored, not its false positive."""
    prediction = torch.arange(16, dtype=torch.uint8).repeat(2)  # every compact ID, twice
    label = torch.tensor([*CLASSES_16, 9, 14, 16, *CLASSES_16[3:]], dtype=torch.uint8)
    as_ids, truth = compact16_as_train_ids(prediction, label)
    assert as_ids[:16].tolist() == list(CLASSES_16)
    assert truth[16:19].tolist() == [IGNORE_INDEX] * 3 and truth[:16].tolist() == list(CLASSES_16)

    confusion = ConfusionMatrix(19)
    confusion.update(as_ids, truth)
    scores = summarize(confusion.matrix.numpy(), "synthia", "compact16")
    assert scores["class_protocol"] == "compact16" and scores["miou16_variant"] == "compact16"
    assert scores["per_class"]["terrain"] is None and scores["per_class"]["truck"] is None
    assert scores["miou"] == scores["miou16"]  # the three absent classes are no part of the mean
    drop3 = summarize(confusion.matrix.numpy(), "synthia")
    assert drop3["class_protocol"] == "19" and drop3["miou16_variant"] == "drop3"
    with pytest.raises(ValueError, match="unknown class protocol 'compact13'"):
        summarize(confusion.matrix.numpy(), "synthia", "compact13")
