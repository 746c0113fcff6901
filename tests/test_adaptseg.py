"""AdaptSegNet: discriminator geometry, GAN losses, the per-iteration order and gradient isolation (spec B.2, B.5);
CPSL's warm-up discriminator, compared with the reference's own module (tests/fixtures/cpsl/make_fixtures.py)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pipeline_lib.data.transforms import AugmentationConfig
from pipeline_lib.methods.adversarial import (
    SOURCE_LABEL,
    TARGET_LABEL,
    AdaptSegConfig,
    AdversarialLosses,
    adaptation_step,
    build_discriminators,
    frozen,
    gan_loss,
    output_space_map,
)
from pipeline_lib.models import build_model
from pipeline_lib.models.discriminator import DISCRIMINATORS, FCDiscriminator, ProDADiscriminator

pytestmark = pytest.mark.usefixtures("one_thread")


MULTI = AdversarialLosses(lambda_seg=0.1, lambda_adv={"aux": 2e-4, "out": 1e-3}, gan="vanilla")


# --- discriminator ------------------------------------------------------------------------------


@pytest.mark.parametrize(("size", "patches"), [((512, 1024), (16, 32)), ((720, 1280), (22, 40))])
def test_discriminator_patch_map_shape(size, patches):
    """Spec B.2: 16x32 logits for a 512x1024 softmax map and 22x40 for 720x1280, one channel."""
    discriminator = FCDiscriminator(19, width=64)
    with torch.no_grad():
        out = discriminator(torch.rand(1, 19, *size))
    assert out.shape == (1, 1, *patches)


def test_discriminator_layout_matches_reference():
    discriminator = FCDiscriminator(19, width=64)
    shapes = {key: tuple(t.shape) for key, t in discriminator.state_dict().items()}
    channels = [19, 64, 128, 256, 512, 1]
    names = ["conv1", "conv2", "conv3", "conv4", "classifier"]
    expected = {}
    for name, cin, cout in zip(names, channels[:-1], channels[1:], strict=True):
        expected[f"{name}.weight"] = (cout, cin, 4, 4)
        expected[f"{name}.bias"] = (cout,)
    assert shapes == expected
    assert discriminator.conv1.stride == (2, 2) and discriminator.conv1.padding == (1, 1)


def test_discriminator_outputs_unbounded_logits():
    """No sigmoid at the end: large weights give logits outside [0, 1]."""
    discriminator = FCDiscriminator(3, width=2)
    with torch.no_grad():
        discriminator.classifier.bias.fill_(-5.0)
        out = discriminator(torch.rand(1, 3, 64, 64))
    assert (out < 0).any()


def test_proda_discriminator_equals_cpsls_fcdiscriminator():
    """Same keys and shapes as CPSL's ``FCDiscriminator(inplanes, planes)``; with its weights, its output
    (3x3 convs, ReLU x3 then LeakyReLU, 1x1 classifier: 21x30 -> 2x2) to float precision."""
    fixture = np.load(Path(__file__).parent / "fixtures/cpsl/discriminator.npz")
    weights = {key.removeprefix("weight/"): torch.from_numpy(fixture[key]) for key in fixture if "/" in key}
    discriminator = ProDADiscriminator(num_classes=5, width=4)
    discriminator.load_state_dict(weights, strict=True)
    with torch.no_grad():
        out = discriminator(torch.from_numpy(fixture["input"]))
    expected = torch.from_numpy(fixture["output"])
    assert out.shape == expected.shape == (1, 1, 2, 2)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)


def test_proda_discriminator_zeroes_negative_activations_of_its_first_convs():
    """ReLU, not LeakyReLU, after conv1..conv3: with every conv1 output negative the result is that of an
    all-zero conv1 activation (AdaptSegNet's leaky discriminator would pass a negative slope on)."""
    discriminator = ProDADiscriminator(3, width=2)
    with torch.no_grad():
        discriminator.conv1.bias.fill_(-100.0)
        out = discriminator(torch.rand(1, 3, 32, 32))
        x = F.relu(discriminator.conv2(torch.zeros(1, 2, 16, 16)))
        x = F.relu(discriminator.conv3(x))
        expected = discriminator.classifier(F.leaky_relu(discriminator.conv4(x), 0.2))
    torch.testing.assert_close(out, expected)


# --- GAN losses -----------------------------------------------------------------------------------


def test_vanilla_gan_loss_is_bce_with_logits_mean():
    logits = torch.tensor([[[[2.0, -1.0], [0.0, 3.0]]]])
    softplus = [math.log1p(math.exp(-x)) for x in (2.0, -1.0, 0.0, 3.0)]  # -log(sigmoid(x))
    assert gan_loss(logits, TARGET_LABEL, "vanilla").item() == pytest.approx(sum(softplus) / 4)
    softplus_neg = [math.log1p(math.exp(x)) for x in (2.0, -1.0, 0.0, 3.0)]  # -log(1 - sigmoid(x))
    assert gan_loss(logits, SOURCE_LABEL, "vanilla").item() == pytest.approx(sum(softplus_neg) / 4)
    assert gan_loss(torch.zeros(1, 1, 3, 3), SOURCE_LABEL, "vanilla").item() == pytest.approx(math.log(2))


def test_least_squares_gan_loss_is_mse_on_raw_logits():
    logits = torch.tensor([[[[0.5, -1.0], [2.0, 1.0]]]])
    assert gan_loss(logits, TARGET_LABEL, "lsgan").item() == pytest.approx((0.25 + 4 + 1 + 0) / 4)
    assert gan_loss(logits, SOURCE_LABEL, "lsgan").item() == pytest.approx((0.25 + 1 + 4 + 1) / 4)


def test_unknown_gan_objective_is_an_error():
    with pytest.raises(ValueError, match="vanilla, lsgan"):
        gan_loss(torch.zeros(1, 1, 2, 2), 0.0, "wgan")
    with pytest.raises(ValueError, match="vanilla, lsgan"):
        AdversarialLosses(lambda_seg=0.0, lambda_adv={"out": 1e-3}, gan="LS")


def test_output_space_map_is_softmax_at_input_size():
    logits = torch.randn(2, 19, 5, 7)
    maps = output_space_map(logits, (33, 49))
    assert maps.shape == (2, 19, 33, 49)
    torch.testing.assert_close(maps.sum(dim=1), torch.ones(2, 33, 49))
    # align_corners=True keeps the corner logits exactly
    torch.testing.assert_close(maps[..., 0, 0], logits[..., 0, 0].softmax(dim=1))


# --- configuration ------------------------------------------------------------------------------


def _config(**overrides) -> AdaptSegConfig:
    values = dict(
        iterations=2,
        batch_size=2,
        lr=0.01,
        lr_d=1e-4,
        multi_level=False,
        lambda_seg=0.0,
        lambda_adv_target1=0.0,
        lambda_adv_target2=1e-3,
        gan="vanilla",
        source_augmentation=AugmentationConfig(),
    )
    return AdaptSegConfig(**{**values, **overrides})


def test_aux_weights_need_a_multi_level_model():
    with pytest.raises(ValueError, match="multi_level"):
        _config(lambda_seg=0.1)
    with pytest.raises(ValueError, match="multi_level"):
        _config(lambda_adv_target1=2e-4)
    with pytest.raises(ValueError, match="lambda_adv_target2"):
        _config(lambda_adv_target2=-1.0)
    assert _config(multi_level=True, lambda_seg=0.1, lambda_adv_target1=2e-4).losses() == MULTI


def test_zero_weight_level_gets_no_discriminator():
    """Single-level presets (lambda_adv_target1 = 0) train only D2; its D1 would never affect G."""
    assert list(build_discriminators(_config().losses(), 19, 4)) == ["out"]
    assert list(build_discriminators(MULTI, 19, 4)) == ["aux", "out"]


# --- one iteration: order and gradient isolation ---------------------------------------------------


def _setup(losses: AdversarialLosses, multi_level: bool = True):
    torch.manual_seed(0)
    model = build_model("deeplabv2_resnet_tiny", multi_level=multi_level)
    model.train()
    discriminators = build_discriminators(losses, 19, width=4)
    source = torch.randn(2, 3, 48, 64)
    labels = torch.randint(0, 19, (2, 48, 64))
    labels[:, :4] = 255
    target = torch.randn(2, 3, 40, 56)
    return model, discriminators, source, labels, target


def _grads(module: torch.nn.Module) -> dict[str, torch.Tensor | None]:
    return {n: None if p.grad is None else p.grad.clone() for n, p in module.named_parameters()}


def _changed(before: dict, after: dict) -> bool:
    return any(
        (b is None) != (a is None) or (a is not None and not torch.equal(a, b))
        for b, a in zip(before.values(), after.values(), strict=True)
    )


def test_backward_order_and_no_gradient_leakage():
    """Spec B.5: seg loss, adversarial loss (D frozen), then per D its source and target halves on
    detached maps. Each backward must reach only the networks the reference lets it reach."""
    model, discriminators, source, labels, target = _setup(MULTI)
    networks = {"G": model, **{f"D_{level}": d for level, d in discriminators.items()}}
    touched: list[set[str]] = []

    def recording_backward(loss: torch.Tensor) -> None:
        before = {name: _grads(net) for name, net in networks.items()}
        loss.backward()
        touched.append({name for name, net in networks.items() if _changed(before[name], _grads(net))})

    adaptation_step(model, discriminators, MULTI, source, labels, target, recording_backward)
    assert touched == [{"G"}, {"G"}, {"D_aux"}, {"D_aux"}, {"D_out"}, {"D_out"}]
    # the discriminators were frozen only for the segmenter's losses
    assert all(p.requires_grad for d in discriminators.values() for p in d.parameters())


def test_segmenter_step_leaves_discriminators_and_discriminator_step_leaves_segmenter():
    """Optimiser steps after one iteration: G's SGD step moves no D weight, the Ds' Adam steps move no
    G weight, and each network's gradient is exactly what its own losses give."""
    model, discriminators, source, labels, target = _setup(MULTI)
    d_before = {level: {k: v.clone() for k, v in d.state_dict().items()} for level, d in discriminators.items()}
    adaptation_step(model, discriminators, MULTI, source, labels, target, lambda loss: loss.backward())
    g_grads = _grads(model)

    g_params = {k: v.clone() for k, v in model.state_dict().items()}
    torch.optim.SGD(model.parameters(), lr=0.1).step()
    for level, d in discriminators.items():
        for key, value in d.state_dict().items():
            assert torch.equal(value, d_before[level][key]), f"G step changed D_{level}.{key}"
    g_after_g_step = {k: v.clone() for k, v in model.state_dict().items()}
    assert any(not torch.equal(g_after_g_step[k], g_params[k]) for k in g_params)
    for d in discriminators.values():
        torch.optim.Adam(d.parameters(), lr=0.1).step()
    for key, value in model.state_dict().items():
        assert torch.equal(value, g_after_g_step[key]), f"D step changed G {key}"
    assert not _changed(g_grads, _grads(model))


def test_segmenter_gradient_is_seg_plus_weighted_adversarial():
    """G's gradient equals that of CE(out) + lambda_seg CE(aux) + sum_k lambda_k l(D_k(target_k), 0),
    computed by hand with the same (frozen-BN) networks: the Ds add nothing, and the target is
    pushed towards the source label."""
    losses = AdversarialLosses(lambda_seg=0.1, lambda_adv={"aux": 0.3, "out": 0.5}, gan="lsgan")
    model, discriminators, source, labels, target = _setup(losses)
    model.eval()  # fixed BN statistics, so the two computations see identical forwards
    adaptation_step(model, discriminators, losses, source, labels, target, lambda loss: loss.backward())
    step_grads = _grads(model)

    model.zero_grad(set_to_none=True)
    out = model(source)
    size = source.shape[-2:]
    seg = 0.0
    for level, weight in (("out", 1.0), ("aux", 0.1)):
        upsampled = F.interpolate(out[level], size, mode="bilinear", align_corners=True)
        seg = seg + weight * F.cross_entropy(upsampled, labels, ignore_index=255)
    tgt = model(target)
    adv = 0.0
    for level, d in discriminators.items():
        patch_logits = d(output_space_map(tgt[level], target.shape[-2:]))
        adv = adv + losses.lambda_adv[level] * F.mse_loss(patch_logits, torch.zeros_like(patch_logits))
    (seg + adv).backward()
    for name, grad in _grads(model).items():
        torch.testing.assert_close(step_grads[name], grad, msg=name)


@pytest.mark.parametrize("kind", ["adaptsegnet", "proda"])
def test_discriminator_gradient_is_weighted_source_zero_plus_target_one(kind):
    """AdaptSegNet halves each term (``loss_D / 2``); CPSL's warm-up sums them (``step_adv``)."""
    discriminator_class, weight = DISCRIMINATORS[kind]
    assert weight == {"adaptsegnet": 0.5, "proda": 1.0}[kind]
    losses = AdversarialLosses(
        lambda_seg=0.1, lambda_adv={"aux": 2e-4, "out": 1e-3}, gan="vanilla", discriminator_loss_weight=weight
    )
    model, _, source, labels, target = _setup(losses)
    discriminators = build_discriminators(losses, 19, width=4, kind=kind)
    assert all(type(d) is discriminator_class for d in discriminators.values())
    model.eval()
    adaptation_step(model, discriminators, losses, source, labels, target, lambda loss: loss.backward())
    step_grads = {level: _grads(d) for level, d in discriminators.items()}
    with torch.no_grad():
        src, tgt = model(source), model(target)
    for level, d in discriminators.items():
        d.zero_grad(set_to_none=True)
        src_logits = d(output_space_map(src[level], source.shape[-2:]))
        tgt_logits = d(output_space_map(tgt[level], target.shape[-2:]))
        loss = weight * F.binary_cross_entropy_with_logits(src_logits, torch.zeros_like(src_logits))
        loss = loss + weight * F.binary_cross_entropy_with_logits(tgt_logits, torch.ones_like(tgt_logits))
        loss.backward()
        for name, grad in _grads(d).items():
            torch.testing.assert_close(step_grads[level][name], grad, msg=f"D_{level}.{name}")


def test_single_level_step_trains_only_the_main_discriminator():
    losses = AdversarialLosses(lambda_seg=0.0, lambda_adv={"aux": 0.0, "out": 1e-2}, gan="lsgan")
    model, discriminators, source, labels, target = _setup(losses, multi_level=False)
    logs = adaptation_step(model, discriminators, losses, source, labels, target, lambda loss: loss.backward())
    assert set(logs) == {"loss_seg", "loss_adv_out", "loss_d_out"}
    assert all(math.isfinite(v) for v in logs.values())


def test_frozen_restores_requires_grad():
    d = FCDiscriminator(3, 2)
    d.conv1.bias.requires_grad_(False)
    with frozen([d]):
        assert not any(p.requires_grad for p in d.parameters())
    assert not d.conv1.bias.requires_grad
    assert d.conv1.weight.requires_grad and d.classifier.weight.requires_grad
