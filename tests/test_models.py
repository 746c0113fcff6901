"""Models: geometry and key layout from the spec, ImageNet key mapping, LR groups, BN regimes.

Fake torchvision checkpoints are generated from the documented layouts (spec A.3.1, B.1.5), never
downloaded. Full ResNet-101 forwards run only at tiny inputs; big-input geometry uses the tiny variant.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from pipeline_lib.engine.schedule import apply_poly_lr
from pipeline_lib.models import ARCHITECTURES, DeepLabV2ResNet, DeepLabV2VGG16, build_model
from pipeline_lib.models.batchnorm import set_bn_affine_trainable, set_bn_mode
from pipeline_lib.models.imagenet import load_imagenet_weights
from pipeline_lib.models.param_groups import (
    ADAPTSEGNET_MULTIPLIERS,
    LrMultipliers,
    build_param_groups,
)

R101_LAYERS = (3, 4, 23, 3)
Shapes = dict[str, tuple[int, ...]]


# --- documented torchvision layouts -------------------------------------------------------------


def _bn_shapes(prefix: str, channels: int, with_counter: bool) -> Shapes:
    shapes = {f"{prefix}.{name}": (channels,) for name in ("weight", "bias", "running_mean", "running_var")}
    if with_counter:
        shapes[f"{prefix}.num_batches_tracked"] = ()
    return shapes


def torchvision_resnet_shapes(layers=R101_LAYERS, width: int = 64, with_counter: bool = True) -> Shapes:
    """torchvision ResNet bottleneck state-dict layout (``resnet101-*.pth`` at the defaults)."""
    shapes: Shapes = {"conv1.weight": (width, 3, 7, 7), **_bn_shapes("bn1", width, with_counter)}
    inplanes = width
    stage_planes = (width, 2 * width, 4 * width, 8 * width)
    for stage, (blocks, planes) in enumerate(zip(layers, stage_planes, strict=True), start=1):
        for block in range(blocks):
            p = f"layer{stage}.{block}"
            shapes[f"{p}.conv1.weight"] = (planes, inplanes, 1, 1)
            shapes.update(_bn_shapes(f"{p}.bn1", planes, with_counter))
            shapes[f"{p}.conv2.weight"] = (planes, planes, 3, 3)
            shapes.update(_bn_shapes(f"{p}.bn2", planes, with_counter))
            shapes[f"{p}.conv3.weight"] = (4 * planes, planes, 1, 1)
            shapes.update(_bn_shapes(f"{p}.bn3", 4 * planes, with_counter))
            if block == 0:
                shapes[f"{p}.downsample.0.weight"] = (4 * planes, inplanes, 1, 1)
                shapes.update(_bn_shapes(f"{p}.downsample.1", 4 * planes, with_counter))
            inplanes = 4 * planes
    shapes["fc.weight"] = (1000, inplanes)
    shapes["fc.bias"] = (1000,)
    return shapes


def torchvision_vgg16_shapes() -> Shapes:
    """torchvision ``vgg16`` (no BN) ``features`` layout; the 4096-wide classifier is shrunk to keep the
    fake file small (it is dropped by design, so its shapes are never checked)."""
    convs = {0: (3, 64), 2: (64, 64), 5: (64, 128), 7: (128, 128), 10: (128, 256), 12: (256, 256), 14: (256, 256)}
    convs |= {17: (256, 512), 19: (512, 512), 21: (512, 512), 24: (512, 512), 26: (512, 512), 28: (512, 512)}
    shapes: Shapes = {}
    for index, (cin, cout) in convs.items():
        shapes[f"features.{index}.weight"] = (cout, cin, 3, 3)
        shapes[f"features.{index}.bias"] = (cout,)
    for index in (0, 3, 6):
        shapes[f"classifier.{index}.weight"] = (10, 10)
        shapes[f"classifier.{index}.bias"] = (10,)
    return shapes


def materialize(shapes: Shapes) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return {
        key: torch.tensor(7) if key.endswith("num_batches_tracked") else torch.randn(shape, generator=gen)
        for key, shape in shapes.items()
    }


def save(state: object, path: Path) -> Path:
    torch.save(state, path)
    return path


@pytest.fixture(scope="module")
def r101_multi() -> DeepLabV2ResNet:
    return build_model("deeplabv2_resnet101", multi_level=True)


# --- build_model ----------------------------------------------------------------------------------


def test_build_model_knows_every_architecture():
    assert ARCHITECTURES == (
        "deeplabv2_resnet101",
        "deeplabv2_vgg16",
        "deeplabv2_vgg16_bn",
        "fcn_vgg16_bn",
        "deeplabv2_resnet_tiny",
        "resnet38",
        "resnet38_tiny",
    )
    with pytest.raises(ValueError, match="deeplabv2_resnet101, deeplabv2_vgg16, deeplabv2_vgg16_bn, fcn_vgg16_bn"):
        build_model("resnet50")
    with pytest.raises(ValueError, match="DA-SAC's single-level VGG-16-BN"):
        build_model("fcn_vgg16_bn", head="proda")
    with pytest.raises(ValueError, match="single-level"):
        build_model("deeplabv2_vgg16", multi_level=True)
    with pytest.raises(ValueError, match="aspp_branches_used"):
        build_model("deeplabv2_resnet_tiny", aspp_branches_used=3)


def test_models_declare_input_convention_and_new_parameters():
    tiny = build_model("deeplabv2_resnet_tiny")
    assert tiny.input_convention == "imagenet"
    assert tiny.new_parameter_prefixes == ("layer5.",)
    assert build_model("deeplabv2_resnet_tiny", multi_level=True).new_parameter_prefixes == ("layer5.", "layer6.")
    assert DeepLabV2VGG16.new_parameter_prefixes == ("features.29.", "features.31.", "classifier.")
    assert DeepLabV2VGG16.input_convention == "imagenet"


# --- ResNet geometry and layout ---------------------------------------------------------------------


@pytest.mark.parametrize(("size", "logits"), [((512, 1024), (65, 129)), ((720, 1280), (91, 161))])
def test_output_stride_8_with_ceil_pool(size, logits):
    """Spec A.3.1 / B.1.1: ceil-mode pool + strided 1x1 give 65x129 for 512x1024, 91x161 for 720x1280."""
    model = build_model("deeplabv2_resnet_tiny", multi_level=True).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, *size))
    assert out["out"].shape == (1, 19, *logits)
    assert out["aux"].shape == (1, 19, *logits)
    assert out["features"].shape == (1, 16 * 8 * 4, *logits)


def test_r101_forward_small_input(r101_multi):
    with torch.no_grad():
        out = r101_multi.eval()(torch.randn(1, 3, 65, 65))
    assert set(out) == {"out", "aux", "features"}
    assert out["out"].shape == out["aux"].shape == (1, 19, 9, 9)
    assert out["features"].shape == (1, 2048, 9, 9)


def test_single_level_output_has_no_aux():
    with torch.no_grad():
        out = build_model("deeplabv2_resnet_tiny").eval()(torch.randn(2, 3, 64, 64))
    assert set(out) == {"out", "features"}
    assert out["out"].shape == (2, 19, 9, 9)


def test_r101_state_dict_matches_reference_layout(r101_multi):
    """Backbone keys = torchvision's minus fc (spec A.3.1, B.1.1); heads = DeeplabMulti's layer5/layer6."""
    ours = {key: tuple(t.shape) for key, t in r101_multi.state_dict().items()}
    backbone = {k: v for k, v in torchvision_resnet_shapes().items() if not k.startswith("fc.")}
    heads = {k: v for k, v in ours.items() if k.startswith(("layer5.", "layer6."))}
    assert {k: v for k, v in ours.items() if k not in heads} == backbone
    for level, channels in (("layer5", 1024), ("layer6", 2048)):
        for branch in range(4):
            assert heads.pop(f"{level}.conv2d_list.{branch}.weight") == (19, channels, 3, 3)
            assert heads.pop(f"{level}.conv2d_list.{branch}.bias") == (19,)
    assert not heads
    assert len(ours) == 640  # 624 backbone (104 num_batches_tracked) + 2 heads x 4 branches x 2
    assert [len(getattr(r101_multi, f"layer{i}")) for i in range(1, 5)] == list(R101_LAYERS)


def test_r101_single_level_layout():
    model = build_model("deeplabv2_resnet101")
    state = model.state_dict()
    assert len(state) == 632
    assert state["layer5.conv2d_list.0.weight"].shape == (19, 2048, 3, 3)
    assert not any(key.startswith("layer6.") for key in state)


def test_caffe_style_strides_and_dilations():
    model = build_model("deeplabv2_resnet_tiny")
    assert model.maxpool.ceil_mode
    assert model.layer2[0].conv1.stride == (2, 2) and model.layer2[0].conv2.stride == (1, 1)
    for stage, dilation in (("layer1", 1), ("layer2", 1), ("layer3", 2), ("layer4", 4)):
        for block in getattr(model, stage):
            assert block.conv2.dilation == block.conv2.padding == (dilation, dilation)
        assert getattr(model, stage)[0].downsample is not None
    assert [conv.dilation[0] for conv in model.layer5.conv2d_list] == [6, 12, 18, 24]


def test_init_follows_references():
    model = build_model("deeplabv2_resnet_tiny")
    assert model.layer3[0].conv2.weight.std().item() == pytest.approx(0.01, rel=0.1)
    assert torch.all(model.bn1.weight == 1) and torch.all(model.bn1.bias == 0)


@pytest.mark.parametrize("arch", ["deeplabv2_resnet_tiny", "deeplabv2_vgg16"])
def test_aspp_branches_used(arch):
    """Spec B.1.3: the 2-branch head ignores branches 2 and 3; the 4-branch head uses them."""
    x = torch.randn(1, 3, 64, 64)
    for used, expect_change in ((2, False), (4, True)):
        model = build_model(arch, aspp_branches_used=used).eval()
        head = model.classifier if arch == "deeplabv2_vgg16" else model.layer5
        with torch.no_grad():
            before = model(x)["out"]
            for branch in (2, 3):
                head.conv2d_list[branch].weight.add_(1.0)
                head.conv2d_list[branch].bias.add_(1.0)
            after = model(x)["out"]
        assert (not torch.allclose(before, after)) == expect_change


# --- VGG ------------------------------------------------------------------------------------------


def test_vgg_layout_and_geometry():
    model = build_model("deeplabv2_vgg16")
    state = model.state_dict()
    convs = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 23, 25, 27, 29, 31)
    expected = {f"features.{i}.{p}" for i in convs for p in ("weight", "bias")}
    expected |= {f"classifier.conv2d_list.{b}.{p}" for b in range(4) for p in ("weight", "bias")}
    assert set(state) == expected
    assert state["features.29.weight"].shape == (1024, 512, 3, 3)
    assert state["features.31.weight"].shape == (1024, 1024, 3, 3)
    assert state["classifier.conv2d_list.0.weight"].shape == (19, 1024, 3, 3)
    for index, dilation in ((21, 1), (23, 2), (25, 2), (27, 2), (29, 4), (31, 4)):
        assert model.features[index].dilation == model.features[index].padding == (dilation, dilation)
    assert isinstance(model.features[30], nn.ReLU) and isinstance(model.features[32], nn.ReLU)
    with torch.no_grad():
        out = model.eval()(torch.randn(1, 3, 64, 96))
    assert out["out"].shape == (1, 19, 8, 12)
    assert out["features"].shape == (1, 1024, 8, 12)


# --- ImageNet loading -----------------------------------------------------------------------------


def _tiny_shapes(with_counter: bool = True) -> Shapes:
    return torchvision_resnet_shapes(layers=(1, 1, 1, 1), width=16, with_counter=with_counter)


def test_load_resnet_imagenet_weights(tmp_path):
    model = build_model("deeplabv2_resnet_tiny")
    head_before = model.layer5.conv2d_list[0].weight.clone()
    state = materialize(_tiny_shapes())
    report = load_imagenet_weights(model, save(state, tmp_path / "resnet.pth"))
    ours = model.state_dict()
    for key, tensor in state.items():
        if not key.startswith("fc."):
            assert torch.equal(ours[key], tensor), key
    assert sorted(report.unexpected) == ["fc.bias", "fc.weight"]
    assert all(key.startswith("layer5.") for key in report.missing) and len(report.missing) == 8
    assert len(report.loaded) == len(state) - 2
    assert torch.equal(model.layer5.conv2d_list[0].weight, head_before)


def test_load_accepts_wrapped_prefixed_and_counterless_files(tmp_path):
    """``{"state_dict": ...}``, DataParallel ``module.`` keys, and old files without num_batches_tracked."""
    state = materialize(_tiny_shapes(with_counter=False))
    wrapped = {"state_dict": {f"module.{key}": value for key, value in state.items()}}
    model = build_model("deeplabv2_resnet_tiny", multi_level=True)
    report = load_imagenet_weights(model, save(wrapped, tmp_path / "wrapped.pth"))
    assert torch.equal(model.conv1.weight, state["conv1.weight"])
    assert any(key.endswith("num_batches_tracked") for key in report.missing)


def test_load_rejects_bad_files(tmp_path):
    model = build_model("deeplabv2_resnet_tiny")
    with pytest.raises(FileNotFoundError, match="absent.pth"):
        load_imagenet_weights(model, tmp_path / "absent.pth")

    state = materialize(_tiny_shapes())
    del state["layer3.0.conv2.weight"]
    with pytest.raises(ValueError, match=r"1 missing: layer3\.0\.conv2\.weight"):
        load_imagenet_weights(model, save(state, tmp_path / "missing.pth"))

    state = materialize(_tiny_shapes())
    state["layer1.0.conv1.weight"] = torch.randn(3, 3, 1, 1)
    with pytest.raises(ValueError, match=r"shape-mismatched: layer1\.0\.conv1\.weight"):
        load_imagenet_weights(model, save(state, tmp_path / "mismatch.pth"))

    state = materialize(_tiny_shapes())
    state["layer1.0.se.weight"] = torch.randn(3)
    with pytest.raises(ValueError, match=r"unexpected: layer1\.0\.se\.weight"):
        load_imagenet_weights(model, save(state, tmp_path / "unknown.pth"))

    # Narrower backbone: every key mismatches, and the message lists the first few and the count.
    narrow = materialize(torchvision_resnet_shapes(layers=(1, 1, 1, 1), width=8))
    with pytest.raises(ValueError, match=r"^[^;]*: 85 shape-mismatched: conv1\.weight .*\(77 more\)$"):
        load_imagenet_weights(model, save(narrow, tmp_path / "narrow.pth"))

    with pytest.raises(TypeError, match="Linear"):
        load_imagenet_weights(nn.Linear(2, 2), save({}, tmp_path / "empty.pth"))

    whole = save(materialize(_tiny_shapes()), tmp_path / "truncated.pth").read_bytes()
    (tmp_path / "truncated.pth").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ValueError, match=r"truncated\.pth: not a readable checkpoint"):
        load_imagenet_weights(model, tmp_path / "truncated.pth")


def test_load_vgg_imagenet_weights_remaps_conv5(tmp_path):
    model = build_model("deeplabv2_vgg16")
    fc6_before = model.features[29].weight.clone()
    state = materialize(torchvision_vgg16_shapes())
    report = load_imagenet_weights(model, save(state, tmp_path / "vgg16.pth"))
    for torchvision_index, our_index in ((0, 0), (21, 21), (24, 23), (26, 25), (28, 27)):
        assert torch.equal(model.features[our_index].weight, state[f"features.{torchvision_index}.weight"])
    assert torch.equal(model.features[29].weight, fc6_before)
    assert sorted(report.missing) == sorted(
        [f"features.{i}.{p}" for i in (29, 31) for p in ("weight", "bias")]
        + [f"classifier.conv2d_list.{b}.{p}" for b in range(4) for p in ("weight", "bias")]
    )
    assert all(key.startswith("classifier.") for key in report.unexpected) and len(report.unexpected) == 6


def test_r101_layout_loads_from_documented_torchvision_file(tmp_path, r101_multi):
    """The real key set: a full ResNet-101 file (zero-stride tensors keep the fake file a few kB)."""
    state = {
        key: torch.zeros(1).expand(shape) if shape else torch.tensor(0)
        for key, shape in torchvision_resnet_shapes().items()
    }
    report = load_imagenet_weights(r101_multi, save(state, tmp_path / "resnet101.pth"))
    assert len(report.loaded) == 624 and len(report.missing) == 16


# --- parameter groups -----------------------------------------------------------------------------


def _group(groups: list[dict], name: str) -> dict:
    return next(g for g in groups if g["name"] == name)


@pytest.mark.parametrize(("arch", "multi_level"), [("deeplabv2_resnet_tiny", True), ("deeplabv2_vgg16", False)])
def test_every_trainable_parameter_in_exactly_one_group(arch, multi_level):
    model = build_model(arch, multi_level=multi_level)
    groups = build_param_groups(model, lr=2.5e-4, weight_decay=5e-4)
    grouped = [id(p) for g in groups for p in g["params"]]
    assert len(grouped) == len(set(grouped))
    assert set(grouped) == {id(p) for p in model.parameters()}
    torch.optim.SGD(groups, lr=2.5e-4, momentum=0.9)  # accepted as is


def test_dasac_multipliers_and_decay():
    """Spec A.3.1: 1/2/10/20; biases and BN betas undecayed; BN gamma is a decayed weight."""
    model = build_model("deeplabv2_resnet_tiny")
    groups = build_param_groups(model, lr=1e-3, weight_decay=5e-4)
    settings = {g["name"]: (g["lr_mult"], g["weight_decay"]) for g in groups}
    assert settings == {
        "pretrained_weight": (1, 5e-4),
        "pretrained_bias": (2, 0.0),
        "new_weight": (10, 5e-4),
        "new_bias": (20, 0.0),
    }
    for g in groups:
        assert g["lr"] == g["initial_lr"] == pytest.approx(1e-3 * g["lr_mult"])
    ids = {name: {id(p) for p in _group(groups, name)["params"]} for name in settings}
    assert id(model.bn1.weight) in ids["pretrained_weight"]
    assert id(model.bn1.bias) in ids["pretrained_bias"]
    assert id(model.layer5.conv2d_list[3].bias) in ids["new_bias"]


def test_vgg_fc6_fc7_are_new():
    model = build_model("deeplabv2_vgg16")
    groups = build_param_groups(model, lr=1e-3, weight_decay=5e-4)
    new_weights = {id(p) for p in _group(groups, "new_weight")["params"]}
    assert {id(model.features[29].weight), id(model.features[31].weight)} <= new_weights
    assert id(model.features[27].weight) in {id(p) for p in _group(groups, "pretrained_weight")["params"]}


def test_adaptsegnet_preset_and_frozen_parameters():
    """Spec B.4: backbone 1x, heads 10x, everything decayed; frozen BN affine params left out."""
    model = build_model("deeplabv2_resnet_tiny", multi_level=True)
    set_bn_affine_trainable(model, False)
    groups = build_param_groups(model, 2.5e-4, 5e-4, ADAPTSEGNET_MULTIPLIERS, decay_biases=True)
    assert {(g["lr_mult"], g["weight_decay"]) for g in groups} == {(1, 5e-4), (10, 5e-4)}
    grouped = {id(p) for g in groups for p in g["params"]}
    assert grouped == {id(p) for p in model.parameters() if p.requires_grad}
    assert id(model.bn1.weight) not in grouped


def test_poly_schedule_rescales_groups():
    model = build_model("deeplabv2_resnet_tiny")
    optimizer = torch.optim.SGD(build_param_groups(model, 1e-2, 5e-4, LrMultipliers(1, 2, 10, 20)), lr=1e-2)
    lr = apply_poly_lr(optimizer, 1e-2, iteration=50, max_iterations=100, power=0.9)
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([lr, 2 * lr, 10 * lr, 20 * lr])


def test_prefix_matching_nothing_is_an_error():
    model = build_model("deeplabv2_resnet_tiny")
    model.new_parameter_prefixes = ("head.",)
    with pytest.raises(ValueError, match="head"):
        build_param_groups(model, 1e-3, 5e-4)


# --- BN regime ------------------------------------------------------------------------------------


def _stats_change_after_forward(model: nn.Module) -> bool:
    before = model.bn1.running_mean.clone()
    model(torch.randn(2, 3, 32, 32) * 3 + 1)
    return not torch.equal(before, model.bn1.running_mean)


def test_bn_frozen_keeps_statistics_but_trains_affine():
    model = build_model("deeplabv2_resnet_tiny").train()
    set_bn_mode(model, "frozen")
    assert model.training and not model.bn1.training
    assert not _stats_change_after_forward(model)
    model(torch.randn(2, 3, 32, 32))["out"].sum().backward()
    assert model.bn1.weight.grad is not None and model.bn1.bias.grad is not None


def test_bn_train_updates_statistics_and_follows_model_mode():
    model = build_model("deeplabv2_resnet_tiny").train()
    set_bn_mode(model, "train")
    assert _stats_change_after_forward(model)
    model.eval()
    set_bn_mode(model, "train")
    assert not model.bn1.training
    with pytest.raises(ValueError, match="frozen"):
        set_bn_mode(model, "eval")


def test_initial_model_is_a_function_of_the_seed():
    """A rerun of a training job must start from the same random layers, or demo numbers drift between runs."""
    from pipeline_lib.jobs.train_source import initial_model
    from pipeline_lib.models.serialization import ModelSpec

    spec = ModelSpec(arch="deeplabv2_resnet_tiny", num_classes=19, multi_level=False, aspp_branches_used=4)
    config = {"imagenet_weights": None}
    first, again, other = (initial_model(config, spec, seed).state_dict() for seed in (0, 0, 1))
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert any(not torch.equal(first[k], other[k]) for k in first if first[k].is_floating_point())
