"""Importing AdaptSegNet's released checkpoints, and scoring one with the ``udaflow`` command (spec B.1, B.8).

The fake checkpoints are built from the key list the spec documents for ``DeeplabMulti`` (B.1.1),
written the way the reference saved them: a plain ``state_dict`` without ``num_batches_tracked``.
"""

from __future__ import annotations

import json
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from pipeline_lib.cli import main
from pipeline_lib.data.image_io import write_label, write_rgb
from pipeline_lib.data.transforms import normalize
from pipeline_lib.evaluation import EvaluationConfig, predict_split
from pipeline_lib.models.adaptsegnet_import import import_adaptsegnet, infer_spec, load_adaptsegnet_state_dict
from pipeline_lib.models.serialization import evaluation_preprocessing, load_model, save_model

REPO = Path(__file__).resolve().parents[1]
Shapes = dict[str, tuple[int, ...]]


pytestmark = pytest.mark.usefixtures("one_thread")


def deeplab_multi_shapes(layers=(3, 4, 23, 3), width: int = 64, num_classes: int = 19, multi: bool = True) -> Shapes:
    """Spec B.1.1 key list: stem, layer1..4 bottlenecks (downsample on block 0), then the heads.

    ``DeeplabMulti``: ``layer5`` (1024-input at R101 width) on layer3 and ``layer6`` (2048) on layer4;
    ``Res_Deeplab`` (``multi=False``): one ``layer5`` on layer4. No ``num_batches_tracked`` (PyTorch <= 0.3).
    """

    def bn(prefix: str, channels: int) -> Shapes:
        return {f"{prefix}.{name}": (channels,) for name in ("weight", "bias", "running_mean", "running_var")}

    shapes: Shapes = {"conv1.weight": (width, 3, 7, 7), **bn("bn1", width)}
    inplanes = width
    for stage, blocks in enumerate(layers, start=1):
        planes = width * 2 ** (stage - 1)
        for block in range(blocks):
            p = f"layer{stage}.{block}"
            shapes[f"{p}.conv1.weight"] = (planes, inplanes, 1, 1)
            shapes[f"{p}.conv2.weight"] = (planes, planes, 3, 3)
            shapes[f"{p}.conv3.weight"] = (4 * planes, planes, 1, 1)
            for i, channels in ((1, planes), (2, planes), (3, 4 * planes)):
                shapes.update(bn(f"{p}.bn{i}", channels))
            if block == 0:
                shapes[f"{p}.downsample.0.weight"] = (4 * planes, inplanes, 1, 1)
                shapes.update(bn(f"{p}.downsample.1", 4 * planes))
            inplanes = 4 * planes
    heads = {"layer5": 16 * width, "layer6": 32 * width} if multi else {"layer5": 32 * width}
    for head, channels in heads.items():
        for branch in range(4):
            shapes[f"{head}.conv2d_list.{branch}.weight"] = (num_classes, channels, 3, 3)
            shapes[f"{head}.conv2d_list.{branch}.bias"] = (num_classes,)
    return shapes


def fake_checkpoint(path: Path, shapes: Shapes) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    state = {key: torch.randn(shape, generator=gen) * 0.01 for key, shape in shapes.items()}
    for key in state:
        if key.endswith("running_var"):
            state[key] = state[key].abs() + 1.0
    torch.save(state, path)
    return state


def test_documented_deeplab_multi_keys_load_without_missing_or_unexpected(tmp_path):
    """The released GTA2Cityscapes_multi layout: all 536 documented tensors load, none left over;
    only the absent ``num_batches_tracked`` counters are reported missing."""
    shapes = deeplab_multi_shapes()
    assert shapes["layer5.conv2d_list.0.weight"] == (19, 1024, 3, 3)
    assert shapes["layer6.conv2d_list.3.weight"] == (19, 2048, 3, 3)
    state = fake_checkpoint(tmp_path / "GTA2Cityscapes_multi.pth", shapes)

    spec, report = import_adaptsegnet(tmp_path / "GTA2Cityscapes_multi.pth", tmp_path / "model.pt")
    assert (spec.arch, spec.multi_level, spec.aspp_branches_used) == ("deeplabv2_resnet101", True, 2)
    assert report.unexpected == []
    assert sorted(report.loaded) == sorted(shapes) and len(shapes) == 536
    assert report.missing and all(key.endswith(".num_batches_tracked") for key in report.missing)
    assert len(report.missing) == 104  # one per BN of ResNet-101

    model, loaded_spec = load_model(tmp_path / "model.pt")
    assert loaded_spec == spec
    assert model.input_convention == "caffe_bgr"
    ours = model.state_dict()
    for key, tensor in state.items():
        assert torch.equal(ours[key], tensor), key


def test_imported_heads_sum_only_the_first_two_branches(tmp_path):
    """Spec B.1.3: the released heads ran branches 0 and 1 (dilations 6, 12) only."""
    fake_checkpoint(tmp_path / "tiny.pth", deeplab_multi_shapes(layers=(1, 1, 1, 1), width=16))
    model, spec, _ = load_adaptsegnet_state_dict(tmp_path / "tiny.pth")
    assert spec.arch == "deeplabv2_resnet_tiny"
    head = model.layer6
    x = torch.randn(1, 512, 9, 9)
    with torch.no_grad():
        torch.testing.assert_close(head(x), head.conv2d_list[0](x) + head.conv2d_list[1](x))
    four = load_adaptsegnet_state_dict(tmp_path / "tiny.pth", aspp_branches_used=4)[0].layer6
    with torch.no_grad():
        torch.testing.assert_close(four(x), sum(conv(x) for conv in four.conv2d_list))


def test_single_level_and_vgg_layouts_are_recognised():
    meta = {k: torch.empty(v, device="meta") for k, v in deeplab_multi_shapes(multi=False).items()}
    spec = infer_spec(meta)
    assert (spec.arch, spec.multi_level, spec.num_classes) == ("deeplabv2_resnet101", False, 19)
    vgg = {"features.0.weight": torch.empty(64, 3, 3, 3), "classifier.conv2d_list.0.bias": torch.empty(19)}
    assert infer_spec(vgg).arch == "deeplabv2_vgg16"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda s: s.pop("layer6.conv2d_list.2.bias"), "1 missing: layer6.conv2d_list.2.bias"),
        (lambda s: s.update({"layer7.weight": torch.zeros(1)}), "1 unexpected: layer7.weight"),
        (lambda s: s.update({"layer5.conv2d_list.0.weight": torch.zeros(21, 128, 3, 3)}), "shape-mismatched"),
    ],
)
def test_foreign_checkpoints_fail_naming_file_and_keys(tmp_path, edit, message):
    shapes = deeplab_multi_shapes(layers=(1, 1, 1, 1), width=16)
    state = fake_checkpoint(tmp_path / "x.pth", shapes)
    edit(state)
    torch.save(state, tmp_path / "x.pth")
    with pytest.raises(ValueError, match=message) as err:
        load_adaptsegnet_state_dict(tmp_path / "x.pth")
    assert "x.pth" in str(err.value)


def test_non_segmentation_checkpoint_is_rejected(tmp_path):
    torch.save({"fc.weight": torch.zeros(2, 2)}, tmp_path / "imagenet.pth")
    with pytest.raises(ValueError, match="imagenet.pth: neither conv1.weight"):
        load_adaptsegnet_state_dict(tmp_path / "imagenet.pth")
    with pytest.raises(FileNotFoundError, match="absent.pth"):
        load_adaptsegnet_state_dict(tmp_path / "absent.pth")


def test_cli_imports_and_evaluates_a_checkpoint(tmp_path, capsys):
    """The documented one-liner: ``udaflow import-adaptsegnet`` then ``udaflow evaluate``."""
    fake_checkpoint(tmp_path / "released.pth", deeplab_multi_shapes(layers=(1, 1, 1, 1), width=16))
    rows = ["name,image,label"]
    rng = np.random.default_rng(0)
    for i in range(2):
        write_rgb(tmp_path / f"img{i}.png", rng.integers(0, 255, (48, 96, 3), dtype=np.uint8))
        write_label(tmp_path / f"lbl{i}.png", rng.integers(0, 19, (48, 96), dtype=np.uint8))
        rows.append(f"frame{i},{tmp_path / f'img{i}.png'},{tmp_path / f'lbl{i}.png'}")
    (tmp_path / "val.csv").write_text("\n".join(rows) + "\n")
    model_file = tmp_path / "work/adaptseg_released/model.pt"

    main(["import-adaptsegnet", str(tmp_path / "released.pth"), str(model_file)])
    assert "multi-level, 2-branch ASPP, caffe_bgr" in capsys.readouterr().out
    main(
        [
            "evaluate",
            str(model_file),
            "--config",
            str(REPO / "config.yaml"),
            "--file-list",
            str(tmp_path / "val.csv"),
            "--input-size",
            "64",
            "32",
            "--out-dir",
            str(tmp_path / "results"),
        ]
    )
    scores = json.loads((tmp_path / "results/miou.json").read_text())
    assert scores["method"] == "adaptseg_released"
    assert scores["images"] == 2 and 0 <= scores["miou"] <= 100
    assert scores["provenance"]["config"]["evaluation"]["input_size"] == [64, 32]
    assert scores["provenance"]["model_spec"]["aspp_branches_used"] == 2


def test_evaluate_applies_the_releases_pil_bicubic_1024x512_unless_told_otherwise(tmp_path, capsys):
    """An imported AdaptSegNet model records its evaluation's preprocessing; a trained one records none."""
    fake_checkpoint(tmp_path / "released.pth", deeplab_multi_shapes(layers=(1, 1, 1, 1), width=16))
    model_file = tmp_path / "model.pt"
    main(["import-adaptsegnet", str(tmp_path / "released.pth"), str(model_file)])
    assert evaluation_preprocessing(model_file) == {"input_size": [1024, 512], "resize": "pil_bicubic"}
    model, spec = load_model(model_file)
    save_model(tmp_path / "retrained.pt", model, spec)
    assert evaluation_preprocessing(tmp_path / "retrained.pt") is None

    rng = np.random.default_rng(1)
    write_rgb(tmp_path / "img.png", rng.integers(0, 255, (40, 80, 3), dtype=np.uint8))
    write_label(tmp_path / "lbl.png", rng.integers(0, 19, (40, 80), dtype=np.uint8))
    (tmp_path / "val.csv").write_text(f"name,image,label\nframe,{tmp_path / 'img.png'},{tmp_path / 'lbl.png'}\n")
    common = ["--config", str(REPO / "config.yaml"), "--file-list", str(tmp_path / "val.csv")]
    main(["evaluate", str(model_file), *common, "--out-dir", str(tmp_path / "released")])
    assert "scored with its release's preprocessing" in capsys.readouterr().out
    evaluation = json.loads((tmp_path / "released/miou.json").read_text())["provenance"]["config"]["evaluation"]
    assert evaluation["input_size"] == [1024, 512] and evaluation["resize"] == "pil_bicubic"
    main(["evaluate", str(model_file), *common, "--config-preprocessing", "--out-dir", str(tmp_path / "config")])
    evaluation = json.loads((tmp_path / "config/miou.json").read_text())["provenance"]["config"]["evaluation"]
    assert evaluation["input_size"] is None and evaluation["resize"] == "bilinear"


def test_pil_bicubic_resize_feeds_the_network_pils_pixels():
    """resize: pil_bicubic = PIL's bicubic on the 8-bit image, then normalisation (AdaptSegNet's loader)."""
    rng = np.random.default_rng(2)
    image = rng.integers(0, 255, (20, 40, 3), dtype=np.uint8)
    seen = []

    class Recorder(torch.nn.Module):
        input_convention = "caffe_bgr"

        def forward(self, x):
            seen.append(x.clone())
            return {"out": torch.zeros(1, 19, x.shape[2] // 8, x.shape[3] // 8)}

    frame = pd.DataFrame({"name": ["f"], "image": ["unused"], "label": ["unused"]})
    with mock.patch("pipeline_lib.evaluation.read_rgb", return_value=image), mock.patch(
        "pipeline_lib.evaluation.read_train_id_label", return_value=np.zeros((20, 40), np.uint8)
    ):
        cfg = EvaluationConfig(input_size=(64, 32), resize="pil_bicubic")
        list(predict_split(Recorder(), frame, "caffe_bgr", cfg, torch.device("cpu")))
    expected = np.array(Image.fromarray(image).resize((64, 32), Image.BICUBIC))
    reference = normalize(torch.from_numpy(expected).permute(2, 0, 1).float(), "caffe_bgr")
    torch.testing.assert_close(seen[0][0], reference)
