"""CBST-SP spatial prior: built from source label positions, applied by multiplication (spec §5)."""

import numpy as np
import pytest
import torch

from pipeline_lib.selftrain.spatial_prior import apply_spatial_prior, class_position_counts, spatial_prior


def sky_over_road(height=8, width=8):
    label = np.zeros((height, width), dtype=np.uint8)  # road (0) below
    label[: height // 2] = 10  # sky on top
    label[1, 1] = 255  # nearest resizing to 4x4 samples pixel centres 1, 3, 5, 7
    return label


def test_counts_follow_label_positions_and_skip_ignore():
    counts = class_position_counts([sky_over_road(), sky_over_road()], 19, (4, 4))
    assert counts.shape == (19, 4, 4)
    assert counts[10, :2].sum() == 2 * 8 - 2 and counts[0, 2:].sum() == 2 * 8
    assert counts.sum() == 2 * 16 - 2  # the ignored pixel counts for no class


@pytest.mark.parametrize("normalization", ["per_class", "per_pixel"])
def test_normalisations(normalization):
    prior = spatial_prior(class_position_counts([sky_over_road()], 19, (4, 4)), 0.0, normalization)
    assert prior.dtype == np.float32
    if normalization == "per_class":
        assert prior[10].max() == 1.0 and prior[0].max() == 1.0 and prior[5].max() == 0.0
    else:
        assert np.allclose(prior[:, 1:, :].sum(axis=0), 1.0)
    assert prior[10, 0, 1] > prior[10, 3, 1] and prior[0, 3, 1] > prior[0, 0, 1]


def test_smoothing_spreads_mass():
    counts = class_position_counts([sky_over_road()], 19, (4, 4))
    sharp, smooth = spatial_prior(counts, 0.0, "per_class"), spatial_prior(counts, 1.0, "per_class")
    assert sharp[10, 3, 0] == 0.0 < smooth[10, 3, 0]


def test_apply_multiplies_after_resizing_and_can_flip_the_argmax():
    scores = torch.tensor([[[0.6, 0.6]], [[0.4, 0.4]]])  # (2, 1, 2): class 0 wins everywhere
    prior = torch.tensor([[[1.0]], [[0.5]]])
    prior_right = torch.tensor([[[1.0, 0.2]], [[0.5, 1.0]]])
    assert torch.allclose(apply_spatial_prior(scores, prior), torch.tensor([[[0.6, 0.6]], [[0.2, 0.2]]]))
    weighted = apply_spatial_prior(scores, prior_right)
    assert weighted.argmax(dim=0).tolist() == [[0, 1]]  # the prior moves the right pixel to class 1
    with pytest.raises(ValueError, match="prior has 3 classes"):
        apply_spatial_prior(scores, torch.ones(3, 1, 1))
