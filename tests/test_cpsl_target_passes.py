"""CPSL's passes of a model over the target images: each does exactly the reference's computation, with
no more forward passes than it needs (at real size one R101 forward of a 1024x2048 frame is seconds)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from pipeline_lib.cpsl.hard_label_store import HardLabelStore
from pipeline_lib.cpsl.prototypes import PrototypeAccumulator, image_class_means
from pipeline_lib.data.image_io import read_rgb
from pipeline_lib.data.transforms import normalize
from pipeline_lib.jobs import cpsl_hard_labels, cpsl_prototypes
from pipeline_lib.losses import upsample_logits
from pipeline_lib.models.serialization import ModelSpec, load_model, save_model

COMPUTE = {"device": "cpu"}


@pytest.fixture
def targets(tmp_path):
    """A CPSL-head model file and a list of three 48x96 target images."""
    torch.manual_seed(3)
    spec = ModelSpec("deeplabv2_resnet_tiny", head="proda")
    save_model(tmp_path / "model.pt", spec.build(), spec)
    rng = np.random.default_rng(5)
    rows = []
    for index in range(3):
        image = tmp_path / f"frame{index}.png"
        Image.fromarray(rng.integers(0, 256, size=(48, 96, 3), dtype=np.uint8)).save(image)
        rows.append({"name": f"frame{index}", "image": str(image), "label": ""})
    pd.DataFrame(rows).to_csv(tmp_path / "targets.csv", index=False)
    return tmp_path / "model.pt", tmp_path / "targets.csv", [row["image"] for row in rows]


def _counting_loader(monkeypatch, job, calls: list[int]):
    """Make ``job.load_model`` return the real model with a hook counting its forward passes."""

    def load(path):
        model, spec = load_model(path)
        model.register_forward_hook(lambda *_: calls.append(1))
        return model, spec

    monkeypatch.setattr(job, "load_model", load)


def _network_input(model, image_path):
    rgb = torch.from_numpy(np.asarray(read_rgb(image_path))).permute(2, 0, 1).float()
    return normalize(rgb, model.input_convention)[None]


def test_prototypes_run_the_model_once_per_image_and_fold_every_pass(targets, tmp_path, monkeypatch):
    model_path, file_list, images = targets
    calls: list[int] = []
    _counting_loader(monkeypatch, cpsl_prototypes, calls)
    settings = {"min_pixels": 1, "count_cap": 4, "passes": 3}
    cpsl_prototypes.run(model_path, file_list, tmp_path / "prototypes.pt", settings=settings, compute=COMPUTE)
    assert len(calls) == len(images)

    model, spec = load_model(model_path)
    model.eval()
    expected = None
    with torch.no_grad():
        outputs = [model(_network_input(model, image)) for image in images]
    for _ in range(settings["passes"]):  # the reference: every pass runs the model again, in list order
        for output in outputs:
            features = output[model.prototype_feature]
            if expected is None:
                expected = PrototypeAccumulator(spec.num_classes, features.shape[1], settings["count_cap"])
            expected.update(*image_class_means(features, output["out"].argmax(dim=1), spec.num_classes, 1))
    saved = torch.load(tmp_path / "prototypes.pt")
    # A count cap of 4 below 3 passes x 3 images: the later passes move the prototypes (an EMA past the cap).
    assert int(saved["counts"].max()) == settings["count_cap"]
    assert torch.equal(saved["counts"], expected.counts)
    assert torch.equal(saved["prototypes"], expected.prototypes)


def test_hard_labels_reuse_the_plain_forward_and_flip_average_like_the_reference(targets, tmp_path, monkeypatch):
    model_path, file_list, images = targets
    model, _ = load_model(model_path)
    model.eval()
    probabilities = []
    for image_path in images:
        image = _network_input(model, image_path)
        with torch.no_grad():  # generate_pseudo_label.py --flip, L74-88
            plain = upsample_logits(model(image)["out"], (48, 96)).softmax(dim=1)
            mirrored = upsample_logits(model(image.flip(-1))["out"], (48, 96)).softmax(dim=1).flip(-1)
        probabilities.append(((plain + mirrored) / 2)[0])
    threshold = float(torch.stack(probabilities).max(dim=1).values.median())  # half the pixels kept

    calls: list[int] = []
    _counting_loader(monkeypatch, cpsl_hard_labels, calls)
    cpsl_hard_labels.run(model_path, file_list, tmp_path / "hard.h5", threshold=threshold, compute=COMPUTE)
    assert len(calls) == 2 * len(images)  # the image and its mirror

    store = HardLabelStore(tmp_path / "hard.h5")
    kept = 0
    for index, probs in enumerate(probabilities):
        confidence, labels = probs.max(dim=0)
        labels[confidence <= threshold] = 255
        assert np.array_equal(store[f"frame{index}"], labels.numpy())
        kept += int((labels != 255).sum())
    assert 0 < kept < 3 * 48 * 96

