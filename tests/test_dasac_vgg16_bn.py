"""DA-SAC's VGG-16-BN networks and released importance weights (issue 17): the reference's own modules'
keys and outputs (tests/fixtures/dasac/make_fixtures.py) against our build, import and ImageNet loading,
and a weight file written by the reference's own script (make_weights_fixture.py) through the converter."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from dasac_fixture_weights import seeded_state

from pipeline_lib.cli import main
from pipeline_lib.dasac.importance_weights import load_released_weights, read_weights
from pipeline_lib.models import build_model
from pipeline_lib.models.dasac_import import import_dasac
from pipeline_lib.models.imagenet import load_imagenet_weights
from pipeline_lib.models.serialization import load_model
from pipeline_lib.models.vgg16_bn import vgg16_bn_features

FIXTURES = Path(__file__).parent / "fixtures" / "dasac"
REFERENCE = json.loads((FIXTURES / "vgg16_bn_networks.json").read_text())
ARCHS = ("deeplabv2_vgg16_bn", "fcn_vgg16_bn")

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("arch", ARCHS)
def test_state_dict_equals_the_references_key_for_key(arch):
    ours = {key: list(value.shape) for key, value in build_model(arch).state_dict().items()}
    assert ours == REFERENCE["keys"][arch]


@pytest.mark.parametrize(
    ("arch", "role"),
    [("deeplabv2_vgg16_bn", "student"), ("deeplabv2_vgg16_bn", "teacher"), ("fcn_vgg16_bn", "student")],
)
def test_released_layout_snapshot_imports_with_the_references_outputs(tmp_path, arch, role):
    """A snapshot laid out as DA-SAC saves it (``module.backbone.*``, ``module.slow_net.*``) imports as
    the right network and predicts what the reference module predicts with those weights."""
    shapes = REFERENCE["keys"][arch]
    networks = {"backbone": "student", "slow_net": "teacher"} if role == "teacher" else {"backbone": "student"}
    model_state = {
        f"module.{prefix}.{key}": value
        for prefix, network in networks.items()
        for key, value in seeded_state(shapes, REFERENCE["seeds"][network]).items()
    }
    if role == "teacher":
        model_state |= {"module.running_conf": torch.rand(19), "module.slow_init": torch.tensor([1.0])}
    torch.save({"model": model_state, "epoch": 112}, tmp_path / "final_e112.pth")
    del model_state

    report = import_dasac(tmp_path / "final_e112.pth", tmp_path / "model.pt", network=role)
    assert report.spec.arch == arch and report.missing == [] and len(report.loaded) == len(shapes)
    model, spec = load_model(tmp_path / "model.pt")
    assert spec.arch == arch and model.input_convention == "imagenet"
    reference = np.load(FIXTURES / "vgg16_bn_networks.npz")
    with torch.no_grad():
        logits = model.eval()(torch.from_numpy(reference["input"]))["out"].numpy()
    expected = reference[f"{arch}/{role}"]
    assert logits.shape == expected.shape == (1, 19, 8, 12)
    assert np.abs(logits - expected).max() <= 1e-4 * np.abs(expected).max()


@pytest.mark.parametrize("arch", ARCHS)
def test_torchvision_vgg16_bn_imagenet_weights_fill_the_backbone(tmp_path, arch):
    """``vgg16_bn-6c64b313.pth`` keys (``features.<i>`` incl. BN statistics, ``classifier.*``) load into
    the backbone of both networks; the new layers keep their init; the fc classifier is dropped."""
    gen = torch.Generator().manual_seed(0)
    torchvision_state = {}
    for index, layer in enumerate(vgg16_bn_features()):
        for key, value in layer.state_dict().items():
            filled = torch.randn(value.shape, generator=gen) if value.is_floating_point() else value
            torchvision_state[f"features.{index}.{key}"] = filled
    torchvision_state |= {"classifier.0.weight": torch.zeros(2, 2), "classifier.6.bias": torch.zeros(1000)}
    torch.save(torchvision_state, tmp_path / "vgg16_bn-6c64b313.pth")

    model = build_model(arch)
    head_before = {k: v.clone() for k, v in model.state_dict().items() if k.startswith(model.new_parameter_prefixes)}
    report = load_imagenet_weights(model, tmp_path / "vgg16_bn-6c64b313.pth")
    assert sorted(report.unexpected) == ["classifier.0.weight", "classifier.6.bias"]
    state = model.state_dict()
    conv5_3 = {"deeplabv2_vgg16_bn": "features.39", "fcn_vgg16_bn": "block3.40"}[arch]  # torchvision's features.40
    assert torch.equal(state[f"{conv5_3}.weight"], torchvision_state["features.40.weight"])
    bn3_3 = {"deeplabv2_vgg16_bn": "features.21", "fcn_vgg16_bn": "block1.21"}[arch]
    assert torch.equal(state[f"{bn3_3}.running_var"], torchvision_state["features.21.running_var"])
    assert all(torch.equal(state[k], v) for k, v in head_before.items())
    assert len(report.loaded) == len([k for k in torchvision_state if k.startswith("features.")])


# --- the released importance-sampling weights (cs_weights_<net>_<source>.data) ---------------------


def _file_list(tmp_path, frames):
    for frame in frames:
        (tmp_path / f"{frame}.png").write_bytes(b"")  # the list's images must exist; the converter reads none
    rows = ["name,image,label", *(f"{frame},{tmp_path / frame}.png," for frame in frames)]
    (tmp_path / "train.csv").write_text("\n".join(rows) + "\n")
    return tmp_path / "train.csv"


def test_released_weights_convert_to_the_weight_csv_the_sac_job_reads(tmp_path, capsys):
    """cs_weights_sample.data was written by DA-SAC's own tools/compute_IS_weights.py (three masks)."""
    frames = ["aachen_000000_000019", "aachen_000001_000019", "bremen_000010_000019"]
    file_list = _file_list(tmp_path, frames)
    main(["convert-dasac-weights", str(FIXTURES / "cs_weights_sample.data"), str(tmp_path / "w.csv"),
          "--file-list", str(file_list)])
    assert "12 (image, class) weights of 3 frames" in capsys.readouterr().out
    table = read_weights(tmp_path / "w.csv", frames)
    released = load_released_weights(FIXTURES / "cs_weights_sample.data")
    assert sorted(table["class_id"].unique().tolist()) == [0, 1, 2, 13]
    row = table[(table["name"] == "bremen_000010_000019") & (table["class_id"] == 13)]
    expected = float(released["bremen_000010_000019_gtFine_labelIds.png"][13])
    assert float(row["weight"].iloc[0]) == pytest.approx(expected)
    assert table.groupby("class_id")["weight"].sum().tolist() == pytest.approx([1.0] * 4)


def test_released_weights_of_another_target_list_are_an_error_naming_the_file(tmp_path):
    file_list = _file_list(tmp_path, ["aachen_000000_000019", "aachen_000001_000019", "ulm_000000_000019"])
    with pytest.raises(ValueError, match=r"cs_weights_sample.data: the released weights do not match the target "
                       r"list \(1 weighted masks not in the list, e.g. \['bremen_000010_000019'\]; 1 listed"):
        main(["convert-dasac-weights", str(FIXTURES / "cs_weights_sample.data"), str(tmp_path / "w.csv"),
              "--file-list", str(file_list)])
    assert not (tmp_path / "w.csv").exists()
