"""CBST-SP spatial prior: built from source label positions, applied by multiplication (spec §5)."""

import h5py
import numpy as np
import pytest
import scipy.io
import torch

from pipeline_lib.selftrain.spatial_prior import (
    SpatialPrior,
    class_position_counts,
    read_prior_mat,
    spatial_prior,
)


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
    assert torch.allclose(SpatialPrior(prior).apply(scores), torch.tensor([[[0.6, 0.6]], [[0.2, 0.2]]]))
    weighted = SpatialPrior(prior_right).apply(scores)
    assert weighted.argmax(dim=0).tolist() == [[0, 1]]  # the prior moves the right pixel to class 1
    with pytest.raises(ValueError, match="prior has 3 classes"):
        SpatialPrior(torch.ones(3, 1, 1)).apply(scores)



def test_a_rounds_prior_is_resized_once_per_size_and_weighs_like_a_fresh_resize(monkeypatch):
    from pipeline_lib.selftrain import spatial_prior as module

    resizes = []
    interpolate = module.F.interpolate

    def counted(*args, **kwargs):
        resizes.append(1)
        return interpolate(*args, **kwargs)

    monkeypatch.setattr(module.F, "interpolate", counted)
    prior = torch.rand(3, 4, 8, generator=torch.Generator().manual_seed(0))
    held = SpatialPrior(prior)
    for size in [(16, 32), (16, 32), (16, 32), (8, 16), (8, 16)]:
        scores = torch.rand(3, *size)
        expected = scores * interpolate(prior[None], size=size, mode="bilinear", align_corners=False)[0]
        assert torch.equal(held.apply(scores), expected)
    assert len(resizes) == 2  # once per size; the expected values resize with the unpatched function


def _reference_prior(num_classes: int = 19) -> np.ndarray:
    """A (C, H, W) prior like CBST's prior_array.mat: sum-normalised per class (tiny values), one negative."""
    rng = np.random.default_rng(0)
    prior = rng.random((num_classes, 6, 10)).astype(np.float32)
    prior /= prior.sum(axis=(1, 2), keepdims=True)
    prior[3, 0, 0] = -1e-7
    return prior


def test_released_mat_v5_is_read_like_scipy_and_scaled_without_moving_a_label(tmp_path):
    array = _reference_prior()
    path = tmp_path / "prior_array.mat"
    scipy.io.savemat(path, {"prior_array": array})
    prior = read_prior_mat(path, 19)
    assert prior.shape == (19, 6, 10) and prior.dtype == np.float32
    assert prior.max() == pytest.approx(1.0) and prior.min() == 0.0
    # One global factor: the class-balanced labelling argmax(prior·P / t_c) cannot change.
    scores = np.random.default_rng(1).random((19, 6, 10)).astype(np.float32)
    clipped = np.clip(array, 0, None)
    original, scaled = clipped * scores, prior * scores
    thresholds_original = np.quantile(original.reshape(19, -1), 0.8, axis=1)[:, None, None]
    thresholds_scaled = np.quantile(scaled.reshape(19, -1), 0.8, axis=1)[:, None, None]
    assert np.array_equal((original / thresholds_original).argmax(0), (scaled / thresholds_scaled).argmax(0))


def test_released_mat_v73_hdf5_axes_are_transposed_back(tmp_path):
    array = _reference_prior()
    path = tmp_path / "prior_array.mat"
    with h5py.File(path, "w") as mat:  # MATLAB -v7.3 stores column-major: h5py sees the axes reversed
        mat["prior_array"] = array.transpose()
    np.testing.assert_allclose(read_prior_mat(path, 19), np.clip(array, 0, None) / array.max(), rtol=1e-6)


def test_a_released_mat_that_does_not_fit_is_refused_by_name(tmp_path):
    path = tmp_path / "prior_array.mat"
    scipy.io.savemat(path, {"prior": _reference_prior()})
    with pytest.raises(ValueError, match=r"prior_array.mat: no variable 'prior_array' \(found prior\)"):
        read_prior_mat(path, 19)
    scipy.io.savemat(path, {"prior_array": _reference_prior(16)})
    with pytest.raises(ValueError, match=r"has shape \(16, 6, 10\), expected \(19, height, width\)"):
        read_prior_mat(path, 19)
