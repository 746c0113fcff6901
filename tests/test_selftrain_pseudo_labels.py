"""Pseudo-labels: class-balanced assignment, the writer job, the HDF5 store and SISC aggregation."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from pipeline_lib.data.datasets import SegmentationDataset
from pipeline_lib.data.image_io import read_index_label, write_rgb
from pipeline_lib.data.transforms import EvalTransform
from pipeline_lib.jobs import selftrain_pseudo_labels
from pipeline_lib.selftrain.prediction_store import PredictionWriter, full_resolution, read_predictions
from pipeline_lib.selftrain.pseudo_labels import PredictionConfig, assign_labels, predict_stride8, sisc_windows


def test_assign_labels_rescales_before_argmax_and_ignores_below_one():
    scores = torch.tensor([[[0.9, 0.5, 0.2]], [[0.1, 0.45, 0.1]]])  # (C=2, 1, 3)
    label = assign_labels(scores, np.array([0.8, 0.3]), floor=1e-5)
    # pixel 0: 0.9/0.8 > 0.1/0.3; pixel 1: 0.45/0.3 = 1.5 beats 0.5/0.8 (the rarer class wins);
    # pixel 2: max(0.25, 0.33) < 1 -> ignore
    assert label.tolist() == [[0, 1, 255]]
    assert label.dtype == torch.uint8


def test_zero_threshold_is_floored():
    label = assign_labels(torch.tensor([[[0.0]], [[0.0]]]), np.array([0.0, 1.0]), floor=1e-5)
    assert label.tolist() == [[255]]


def test_store_round_trip_is_float16_at_stride_and_upsamples(tmp_path):
    probs = np.random.default_rng(0).dirichlet(np.ones(3), size=(4, 6)).transpose(2, 0, 1)
    with PredictionWriter(tmp_path / "s.h5", 3) as writer:
        writer.add("a", "img/a.png", "", (32, 48), probs)
        writer.add("b", "img/b.png", "gt/b.png", (32, 48), probs[::-1])
    items = list(read_predictions(tmp_path / "s.h5"))
    assert [i.name for i in items] == ["a", "b"] and items[1].label == "gt/b.png"
    assert items[0].probabilities.dtype == np.float16 and items[0].probabilities.shape == (3, 4, 6)
    assert np.allclose(items[0].probabilities, probs, atol=1e-3)
    full = full_resolution(items[0])
    assert full.shape == (3, 32, 48) and torch.allclose(full.sum(0), torch.ones(32, 48), atol=3e-3)


def test_incomplete_store_is_refused(tmp_path):
    writer = PredictionWriter(tmp_path / "s.h5", 3)
    writer.file.close()  # killed before close(): no count attribute
    with pytest.raises(ValueError, match="incomplete prediction store"):
        list(read_predictions(tmp_path / "s.h5"))


def test_pseudo_label_job_writes_pngs_and_a_readable_file_list(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_rgb("a.png", np.zeros((16, 24, 3), np.uint8))
    probs = np.zeros((19, 2, 3), np.float32)
    probs[0] = 0.9
    probs[1] = 0.1
    probs[1, :, 2], probs[0, :, 2] = 0.95, 0.05
    with PredictionWriter("s.h5", 19) as writer:
        writer.add("city/a", "a.png", "", (16, 24), probs)
    thresholds = {f"c{i}": 1.0 for i in range(19)}
    thresholds["c0"], thresholds["c1"] = 0.85, 0.9
    (tmp_path / "t.json").write_text(json.dumps({"thresholds": thresholds, "floor": 1e-8}))
    selftrain_pseudo_labels.run("s.h5", "t.json", None, "labels", "list.csv")
    rows = pd.read_csv("list.csv")
    assert rows.columns.tolist() == ["name", "image", "label"] and rows["name"].tolist() == ["city/a"]
    label = read_index_label(rows["label"][0])
    assert label.shape == (16, 24) and label[0, 0] == 0 and label[0, -1] == 1
    assert 255 in label  # between 0.9-road and 0.95-sidewalk the upsampled scores fall below both thresholds
    dataset = SegmentationDataset("list.csv", EvalTransform())
    assert set(np.unique(dataset[0]["label"].numpy())) <= {0, 1, 255}


class Constant(nn.Module):
    """A 'network' whose stride-8 output is one fixed class map, to check the aggregation arithmetic."""

    input_convention = "imagenet"

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def forward(self, x):
        h, w = x.shape[-2] // 8, x.shape[-1] // 8
        logits = torch.zeros(x.shape[0], 2, h, w)  # one map per image of the batch
        logits[:, 0] = self.value if (h, w) != (4, 8) else -self.value  # full image votes class 1
        return {"out": logits}


def test_sisc_averages_patches_with_the_full_image():
    image = torch.zeros(1, 3, 32, 64)
    plain = predict_stride8(Constant(5.0), image, PredictionConfig(flip=True), torch.Generator())
    assert plain.shape == (2, 4, 8) and (plain.argmax(0) == 1).all()
    config = PredictionConfig(flip=False, sisc_patches=6, sisc_patch_size=(16, 16))
    generator = torch.Generator().manual_seed(0)
    windows = sisc_windows((32, 64), (16, 16), 6, torch.Generator().manual_seed(0))
    mixed = predict_stride8(Constant(5.0), image, config, generator)
    covered = torch.ones(4, 8)
    for top, left in windows:
        covered[top : top + 2, left : left + 2] += 1
    p = torch.sigmoid(torch.tensor(5.0))  # softmax of logits (5, 0): class 0 gets sigmoid(5)
    expected = ((1 - p) + (covered - 1) * p) / covered
    assert torch.allclose(mixed[0], expected, atol=1e-5)
    assert all(0 <= top <= 2 and 0 <= left <= 6 for top, left in windows)


def test_more_shards_than_target_images_names_the_config_key(tmp_path):
    from pipeline_lib.jobs.selftrain_predict import shard_rows

    images = [str(tmp_path / f"{name}.png") for name in "ab"]
    for image in images:
        write_rgb(image, np.zeros((4, 4, 3), np.uint8))
    file_list = tmp_path / "train.csv"
    pd.DataFrame({"name": ["a", "b"], "image": images, "label": ["", ""]}).to_csv(file_list, index=False)
    assert list(shard_rows(file_list, 1, 2)["name"]) == ["b"]
    with pytest.raises(ValueError, match=r"self_training\.shards: 3 shards for the 2 images"):
        shard_rows(file_list, 0, 3)
