"""Our confusion-matrix mIoU agrees with the official cityscapesScripts evaluator on the same PNGs."""

import numpy as np
import pandas as pd
import pytest
import torch

from pipeline_lib.data import image_io
from pipeline_lib.data.labels import cityscapes_to_train_id_lut, train_id_to_label_id_lut
from pipeline_lib.metrics import ConfusionMatrix, per_class_iou
from pipeline_lib.official_eval import check_agreement, official_summary, pair_predictions, run_official_evaluator

pytest.importorskip("cityscapesscripts", reason="install udaflow[test] for the official evaluator")


def blocky_label_ids(rng, height=64, width=128, block=8):
    coarse = rng.integers(0, 34, (height // block, width // block))
    return np.kron(coarse, np.ones((block, block), dtype=np.int64)).astype(np.uint8)


def test_official_evaluator_matches_our_miou(tmp_path):
    rng = np.random.default_rng(0)
    to_train = cityscapes_to_train_id_lut()
    to_label = train_id_to_label_id_lut()
    names = [f"{city}_{i:06d}_000019" for i, city in enumerate(["frankfurt", "lindau", "munster", "frankfurt"])]
    confusion = ConfusionMatrix(19)
    for name in names:
        gt = blocky_label_ids(rng)
        gt_train = to_train[gt].astype(np.int64)
        prediction = np.where(gt_train == 255, rng.integers(0, 19, gt.shape), gt_train)
        noisy = rng.random(gt.shape) < 0.3
        prediction[noisy] = rng.integers(0, 19, int(noisy.sum()))
        image_io.write_label(tmp_path / "gtFine" / "val" / name.split("_")[0] / f"{name}_gtFine_labelIds.png", gt)
        image_io.write_label(tmp_path / "pred" / f"{name}_leftImg8bit.png", to_label[prediction])
        confusion.update(torch.from_numpy(prediction), torch.from_numpy(gt_train))

    predictions, ground_truths = pair_predictions(pd.DataFrame({"name": names}), tmp_path, tmp_path / "pred")
    official = run_official_evaluator(predictions, ground_truths)
    ours = per_class_iou(confusion.matrix.numpy())
    assert official["averageScoreClasses"] == pytest.approx(np.nanmean(ours), abs=1e-6)
    summary = official_summary(official)
    assert summary["per_class"]["road"] == pytest.approx(ours[0] * 100, abs=1e-3)
    matrix = confusion.matrix.numpy().tolist()
    assert check_agreement(official, matrix, "miou.json") <= 1e-6
    # One pixel moved between two classes of our matrix: a difference far below a rounding step, an error.
    matrix[0][0] -= 1
    matrix[0][1] += 1
    with pytest.raises(ValueError, match=r"official mIoU \d+\.\d{6} differs from miou.json's \d+\.\d{6} by"):
        check_agreement(official, matrix, "miou.json")


def test_missing_prediction_says_how_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="save_label_ids"):
        pair_predictions(pd.DataFrame({"name": ["frankfurt_000000_000019"]}), tmp_path, tmp_path)
