"""DA-SAC building blocks (spec A.5-A.6): importance weights, teacher EMA, thresholds, view fusion,
focal weighting, and one ABN and one SAC step on the tiny network."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from pipeline_lib.dasac.class_prior import ClassPrior, ThresholdConfig, class_thresholds, pseudo_labels
from pipeline_lib.dasac.focal import confidence_weighted_focal_loss, focal_class_weights
from pipeline_lib.dasac.importance_weights import (
    count_class_pixels,
    draw_image,
    importance_weights,
    read_weights,
    sampling_distributions,
    write_weights,
)
from pipeline_lib.dasac.target_views import ViewConfig, ViewGeometry, make_views
from pipeline_lib.dasac.teacher import MomentumTeacher, teacher_updates_at
from pipeline_lib.dasac.view_fusion import fuse_views, warp
from pipeline_lib.data.labels import IGNORE_INDEX
from pipeline_lib.methods.dasac import SACConfig, abn_step, sac_step, source_cross_entropy
from pipeline_lib.models import build_model
from pipeline_lib.models.batchnorm import set_bn_mode

pytestmark = pytest.mark.usefixtures("one_thread")


# --------------------------------------------------------------------------------------------------
# Importance weights (A.5)

MASK_A = np.array([[0, 0, 1], [255, 1, 1]], dtype=np.uint8)
MASK_B = np.array([[0, 2, 2], [2, 2, 255]], dtype=np.uint8)


def test_class_pixel_counts_and_per_class_fractions():
    counts = {"a": count_class_pixels(MASK_A), "b": count_class_pixels(MASK_B)}
    assert counts == {"a": {0: 2, 1: 3}, "b": {0: 1, 2: 4}}  # 255 is not counted
    table = importance_weights(counts)
    got = {(row.name, row.class_id): (row.pixels, row.weight) for row in table.itertuples()}
    # w_{i,c} = n_{i,c} / sum_i n_{i,c}; absent classes get no row.
    assert got == {("a", 0): (2, 2 / 3), ("a", 1): (3, 1.0), ("b", 0): (1, 1 / 3), ("b", 2): (4, 1.0)}
    assert list(table.loc[table["class_id"] == 2, "class_name"]) == ["building"]


def test_count_rejects_values_outside_the_train_ids():
    with pytest.raises(ValueError, match="outside the train IDs"):
        count_class_pixels(np.array([[0, 19]]))


def test_sampling_distributions_mix_rho_uniform_and_invert_the_cdf():
    table = importance_weights({"a": count_class_pixels(MASK_A), "b": count_class_pixels(MASK_B)})
    cdfs = sampling_distributions(table, ["a", "b"], uniform_prior=0.25, uniform_classes=(2,))
    # p_0 = 0.25/2 + 0.75 * (2/3, 1/3) = (0.625, 0.375); p_1 = (0.875, 0.125)
    np.testing.assert_allclose(cdfs[0], [0.625, 1.0])
    np.testing.assert_allclose(cdfs[1], [0.875, 1.0])
    np.testing.assert_allclose(cdfs[2], [0.5, 1.0])  # a uniform (SYNTHIA-ignored) class
    np.testing.assert_allclose(cdfs[5], [0.5, 1.0])  # never predicted: uniform
    assert [draw_image(cdfs, 1, u) for u in (0.0, 0.8, 0.874, 0.9, 0.999)] == [0, 0, 0, 1, 1]
    uniform = sampling_distributions(None, ["a", "b", "c", "d"])
    np.testing.assert_allclose(uniform[7], [0.25, 0.5, 0.75, 1.0])


def test_weight_file_round_trip_and_list_mismatch(tmp_path):
    table = importance_weights({"a": count_class_pixels(MASK_A), "b": count_class_pixels(MASK_B)})
    path = tmp_path / "weights.csv"
    write_weights(path, table)
    loaded = read_weights(path, ["a", "b"])
    pd.testing.assert_frame_equal(loaded, table, check_dtype=False)
    with pytest.raises(ValueError, match="1 listed images without weights"):
        read_weights(path, ["a", "b", "c"])
    table.loc[0, "weight"] = 0.9
    write_weights(path, table)
    with pytest.raises(ValueError, match="do not sum to 1"):
        read_weights(path, ["a", "b"])


# --------------------------------------------------------------------------------------------------
# Momentum teacher (A.6.3)


def _small_net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4))


def test_teacher_copies_first_then_moves_by_ema():
    student = _small_net()
    teacher = MomentumTeacher(student, momentum=0.9)
    with torch.no_grad():
        student[0].weight.add_(1.0)
    assert teacher.update(student) is True  # initialisation: an exact copy
    assert bool(teacher.initialised)
    torch.testing.assert_close(teacher.network[0].weight, student[0].weight)
    before = {k: v.clone() for k, v in teacher.network.state_dict().items()}
    with torch.no_grad():
        student[0].weight.mul_(3.0)
        student[0].bias.add_(2.0)
        student[1].running_mean.add_(5.0)
        student[1].running_var.mul_(4.0)
        student[1].num_batches_tracked.fill_(7)
    assert teacher.update(student) is False
    after, source = teacher.network.state_dict(), student.state_dict()
    for key in ("0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var"):
        torch.testing.assert_close(after[key], 0.9 * before[key] + 0.1 * source[key])
    assert int(after["1.num_batches_tracked"]) == int(before["1.num_batches_tracked"])  # not averaged
    assert not any(p.requires_grad for p in teacher.network.parameters())
    teacher.train()
    assert not teacher.network.training


def test_teacher_schedule_restarts_each_epoch():
    # GTA: 1125 steps per epoch, an update every 100 within the epoch: 0, 100, ..., 1100, then 1125 + 0, ...
    updates = [i for i in range(2 * 1125) if teacher_updates_at(i, 100, 1125)]
    assert updates[:3] == [0, 100, 200] and updates[11:14] == [1100, 1125, 1225]
    assert len(updates) == 24


# --------------------------------------------------------------------------------------------------
# Class prior and thresholds (A.6.5)


def test_thresholds_follow_the_formula_on_a_hand_made_view():
    # One view, 3 classes, 6 pixels; columns are pixels.
    probs = torch.tensor(
        [
            [0.90, 0.60, 0.20, 0.10, 0.25, 0.40],
            [0.05, 0.30, 0.70, 0.20, 0.30, 0.35],
            [0.05, 0.10, 0.10, 0.70, 0.45, 0.25],
        ]
    ).view(1, 3, 1, 6)
    prior = torch.tensor([0.1, 0.1, 1e-3])  # class 2 is rare: discount 1 - exp(-1)
    config = ThresholdConfig(upper=0.75, lower=0.2, beta=1e-3)
    thresholds = class_thresholds(probs, prior, config)
    discounts = [1 - math.exp(-100), 1 - math.exp(-100), 1 - math.exp(-1)]
    expected = [0.75 * peak * d for peak, d in zip((0.9, 0.7, 0.7), discounts, strict=True)]
    torch.testing.assert_close(thresholds, torch.tensor([expected]))
    labels, confidence = pseudo_labels(probs, prior, config)
    # 0.9 > 0.675 kept; 0.6 not; 0.7 > 0.525 kept; 0.7 and 0.45 > 0.332 kept; 0.40 < 0.675 not.
    assert labels.flatten().tolist() == [0, IGNORE_INDEX, 1, 2, 2, IGNORE_INDEX]
    torch.testing.assert_close(confidence.flatten(), torch.tensor([0.9, 0.6, 0.7, 0.7, 0.45, 0.4]))
    undiscounted, _ = pseudo_labels(probs, prior, ThresholdConfig(discount=False))
    assert undiscounted.flatten().tolist()[4] == IGNORE_INDEX  # 0.45 < 0.525 without the discount


def test_threshold_floor_padding_and_uncovered_pixels():
    probs = torch.stack([torch.tensor([0.25, 0.15, 0.60]), torch.zeros(3)], dim=-1).view(1, 3, 1, 2)
    prior = torch.full((3,), 0.3)
    config = ThresholdConfig(upper=0.75, lower=0.5)
    thresholds = class_thresholds(probs, prior, config)
    assert thresholds[0, 0].item() == 0.5  # class 0 never wins: 0.75 * 0 floored at tau_low
    labels, _ = pseudo_labels(probs, prior, config)
    assert labels.flatten().tolist() == [2, IGNORE_INDEX]  # 0.6 > max(0.5, 0.45); the empty pixel is ignored
    padded, _ = pseudo_labels(probs, prior, config, padding=torch.tensor([[[True, False]]]))
    assert padded.flatten().tolist() == [IGNORE_INDEX, IGNORE_INDEX]


def test_class_prior_copies_new_classes_then_averages():
    prior = ClassPrior(3, momentum=0.99)
    prior.reset(1e-3)
    probs = torch.tensor([0.5, 0.5, 0.0]).view(1, 3, 1, 1).expand(2, 3, 4, 4)
    prior.update(probs, beta=1e-3)
    torch.testing.assert_close(prior.values, torch.tensor([0.5, 0.5, 0.99e-3]))
    prior.update(torch.tensor([0.0, 0.2, 0.8]).view(1, 3, 1, 1), beta=1e-3)
    # classes 0, 1 are no longer at beta: plain EMA; class 2 moved off beta already (0.99e-3): EMA too.
    torch.testing.assert_close(prior.values, torch.tensor([0.495, 0.497, 0.99 * 0.99e-3 + 0.008]))


# --------------------------------------------------------------------------------------------------
# View fusion (A.6.2, A.6.4)


def test_flipped_view_maps_back_to_the_same_pixel():
    reference = torch.rand(1, 5, 6, 8, generator=torch.Generator().manual_seed(0)).softmax(dim=1)
    flipped = reference.flip(-1)
    geometry = ViewGeometry(flip=-1.0)
    torch.testing.assert_close(warp(flipped, geometry.affine()[None]), reference)
    torch.testing.assert_close(warp(reference, geometry.affine_inv()[None]), flipped)
    probs = torch.cat([reference, flipped])
    affine = torch.stack([ViewGeometry().affine(), geometry.affine()])
    affine_inv = torch.stack([ViewGeometry().affine_inv(), geometry.affine_inv()])
    fused = fuse_views(probs, 2, affine, affine_inv)
    torch.testing.assert_close(fused[0], reference[0])  # both views agree pixel for pixel
    torch.testing.assert_close(fused[1], flipped[0])


def test_fusion_averages_disagreeing_views_and_skips_padding():
    first = torch.tensor([1.0, 0.0]).view(1, 2, 1, 1).expand(1, 2, 4, 4)
    second = torch.tensor([0.0, 1.0]).view(1, 2, 1, 1).expand(1, 2, 4, 4)
    identity = ViewGeometry()
    affine = torch.stack([identity.affine()] * 2)
    affine_inv = torch.stack([identity.affine_inv()] * 2)
    fused = fuse_views(torch.cat([first, second]), 2, affine, affine_inv)
    torch.testing.assert_close(fused, torch.full((2, 2, 4, 4), 0.5))
    padding = torch.zeros(2, 4, 4, dtype=torch.bool)
    padding[1, :, :2] = True  # the second view is padding on the left half
    fused = fuse_views(torch.cat([first, second]), 2, affine, affine_inv, padding)
    torch.testing.assert_close(fused[0, :, :, :2], torch.tensor([1.0, 0.0]).view(2, 1, 1).expand(2, 4, 2))
    torch.testing.assert_close(fused[0, :, :, 2:], torch.full((2, 4, 2), 0.5))


def test_zoomed_views_map_back_onto_the_reference_frame():
    height, width = 32, 48
    ys, xs = torch.meshgrid(torch.arange(height).float(), torch.arange(width).float(), indexing="ij")
    image = torch.stack([xs * 4.0, ys * 6.0, xs * 2.0 + ys * 3.0]) + 20.0  # smooth ramps
    config = ViewConfig(size=(height, width), group_size=4, joint_scale=(1.0, 1.0), hflip=0.0,
                        zoom=(0.5, 0.7), blur_sigma=None, jitter=0.0, greyscale_prob=0.0)
    views = make_views(image, config, torch.Generator().manual_seed(3))
    assert views["teacher"].shape == (4, 3, height, width) and not views["padding"].any()
    torch.testing.assert_close(views["student"], views["teacher"])  # no noise configured
    flips = views["affine"][:, 0, 0].sign()
    reference = views["teacher"][0] if flips[0] > 0 else views["teacher"][0].flip(-1)
    for v in range(1, 4):
        scale = 1 / views["affine"][v, 1, 1]
        assert 0.5 <= scale <= 0.7
        back = warp(views["teacher"][v : v + 1], views["affine"][v : v + 1])[0]
        footprint = warp(torch.ones(1, 1, height, width), views["affine"][v : v + 1])[0, 0] > 0.999
        # Inside the window's footprint (away from its border) the zoomed view shows the reference pixels.
        inner = footprint & torch.roll(footprint, 2, 0) & torch.roll(footprint, -2, 0) & torch.roll(
            footprint, 2, 1) & torch.roll(footprint, -2, 1)
        assert inner.sum() > 0.2 * height * width * scale**2
        error = (back - reference).abs()[:, inner]
        assert error.max() < 0.05, (v, error.max())


def test_student_views_get_noise_and_padding_is_marked():
    image = torch.rand(3, 20, 30, generator=torch.Generator().manual_seed(1)) * 255
    config = ViewConfig(size=(16, 24), group_size=2, joint_scale=(0.5, 0.5), zoom=(0.6, 0.6))
    views = make_views(image, config, torch.Generator().manual_seed(2))
    assert not torch.allclose(views["student"], views["teacher"])  # the blur is always applied
    assert views["padding"][0].any()  # a 0.5x joint scale leaves a padded border
    assert (views["teacher"][0][:, views["padding"][0]] == 0).all()  # 0 after normalisation


# --------------------------------------------------------------------------------------------------
# Focal weighting and the target loss (A.6.6)


def test_focal_class_weights():
    torch.testing.assert_close(focal_class_weights(torch.tensor([0.0, 0.5, -0.1, 0.9]), 3.0),
                               torch.tensor([1.0, 0.125, 1.0, 0.001]))


def test_confidence_weighted_focal_loss_per_pixel_and_reference_broadcast():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0]]).view(2, 2, 1, 1).expand(2, 2, 1, 2).contiguous()
    labels = torch.tensor([[[0, IGNORE_INDEX]], [[1, 0]]])
    confidence = torch.tensor([[[0.9, 0.5]], [[0.3, 0.6]]])
    prior = torch.tensor([0.5, 0.0])
    weights = (1 - prior) ** 3
    nll = -logits.log_softmax(dim=1)
    pixel = torch.tensor(
        [[weights[0] * nll[0, 0, 0, 0], 0.0], [weights[1] * nll[1, 1, 0, 0], weights[0] * nll[1, 0, 0, 1]]]
    )
    conf = confidence.view(2, 2)
    expected = (conf * pixel).mean()  # mean over every pixel of every view, ignored ones included
    torch.testing.assert_close(confidence_weighted_focal_loss(logits, labels, confidence, prior), expected)
    broadcast = (conf.mean(0) * pixel.mean(0)).mean()  # the released (B,1,H,W) x (B,H,W) product
    got = confidence_weighted_focal_loss(logits, labels, confidence, prior, reference_views_per_device=2)
    torch.testing.assert_close(got, broadcast)
    assert not torch.isclose(got, expected)
    one_view = confidence_weighted_focal_loss(logits, labels, confidence, prior, reference_views_per_device=1)
    torch.testing.assert_close(one_view, expected)  # B = 1 per device: the bug vanishes


def test_source_ce_all_pixels_counts_ignored_pixels_in_the_mean():
    logits = torch.zeros(1, 3, 1, 4)
    labels = torch.tensor([[[0, 1, IGNORE_INDEX, IGNORE_INDEX]]])
    torch.testing.assert_close(source_cross_entropy(logits, labels, "all_pixels"), torch.tensor(math.log(3) / 2))
    torch.testing.assert_close(source_cross_entropy(logits, labels, "labelled_pixels"), torch.tensor(math.log(3)))


# --------------------------------------------------------------------------------------------------
# One step of each stage on the tiny network


def _tiny() -> nn.Module:
    torch.manual_seed(0)
    return build_model("deeplabv2_resnet_tiny", 19)


def test_abn_step_updates_bn_statistics_with_the_target_but_no_gradient():
    model = _tiny().train()
    source = torch.randn(2, 3, 32, 32)
    labels = torch.randint(0, 19, (2, 32, 32))
    target = torch.randn(2, 3, 32, 32) * 3 + 2
    reference = _tiny().train()
    reference(source)
    source_only_mean = reference.bn1.running_mean.clone()
    losses = []
    abn_step(model, source, labels, target, lambda loss: (losses.append(loss), loss.backward()))
    assert len(losses) == 1
    reference(target)
    torch.testing.assert_close(model.bn1.running_mean, reference.bn1.running_mean)
    assert not torch.allclose(model.bn1.running_mean, source_only_mean)
    source_grad = model.conv1.weight.grad.clone()
    model.zero_grad()
    source_cross_entropy(model(source)["out"], labels, "all_pixels").backward()
    torch.testing.assert_close(model.conv1.weight.grad, source_grad, rtol=1e-4, atol=1e-6)


def test_sac_step_initialises_teacher_and_keeps_bn_statistics_frozen():
    student = _tiny()
    teacher = MomentumTeacher(student, 0.99)
    with torch.no_grad():
        teacher.network.layer5.conv2d_list[0].bias.add_(1.0)  # differs until the first update copies
    prior = ClassPrior(19)
    student.train()
    set_bn_mode(student, "frozen")
    config = SACConfig(iterations=1, batch_size=2, target_groups=2, lr=0.01, lambda_target=5.0,
                       thresholds=ThresholdConfig(lower=0.0),  # an untrained net is never 0.2 sure
                       views=ViewConfig(size=(24, 32), group_size=3))
    gen = torch.Generator().manual_seed(0)
    batches = [make_views(torch.rand(3, 30, 40, generator=gen) * 255, config.views, gen) for _ in range(2)]
    target = {key: torch.stack([b[key] for b in batches]) for key in batches[0]}
    statistics = student.bn1.running_mean.clone()
    backwards = []
    logs = sac_step(student, teacher, prior, torch.randn(2, 3, 32, 32), torch.randint(0, 19, (2, 32, 32)),
                    target, config, lambda loss: (backwards.append(loss.item()), loss.backward()), update_teacher=True)
    assert bool(teacher.initialised) and teacher.distance(student) == 0.0
    assert len(backwards) == 2 and backwards[1] == pytest.approx(5.0 * logs["loss_target"])
    assert 0.0 < logs["pseudo_labelled"] <= 1.0 and math.isfinite(logs["loss_target"])
    assert not torch.equal(prior.values, torch.full((19,), 1e-3))  # reset to beta, then updated
    assert torch.equal(student.bn1.running_mean, statistics)
    assert student.layer5.conv2d_list[0].weight.grad is not None
