"""CBST-SP's spatial prior: where in the frame each class occurs in the source labels (§5).

Neither reference repository contains the code that builds ``prior_array.mat`` (§5, §17), so it is
defined from the paper's description: count, per class and pixel position, how often the class occurs
in the source label maps resized (nearest) to a fixed resolution, smooth each class map with a
Gaussian, and normalise. ``normalization`` is an option, as the spec recommends:

- ``per_class``: each class map divided by its maximum. The paper normalises each class map over
  positions; dividing by the maximum instead of the sum keeps the same per-class shape while the
  product prior·P stays in [0, 1], which the confidence histograms (``thresholds``) need. The
  per-class scale still changes the cross-class argmax as the spec notes, here in favour of classes
  that are spatially concentrated relative to their own peak.
- ``per_pixel``: p(c | position), the classes summing to 1 at every position.

The reference instead loads an unpublished ``spatial_prior/<source>/prior_array.mat`` (variable
``prior_array``, (C, 1024, 2048)); ``read_prior_mat`` reads that file when the user has it
(``self_training.spatial_prior.file``).

Applied as the reference does (CBST ``solve_ST.py`` L847-852): multiplied elementwise into the
probabilities at the image's resolution before the argmax, the thresholds and the label assignment,
with no renormalisation afterwards, and never in the training loss.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import h5py
import numpy as np
import scipy.io
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter

from pipeline_lib.data.labels import IGNORE_INDEX
from pipeline_lib.data.transforms import resize_label

NORMALIZATIONS: tuple[str, ...] = ("per_class", "per_pixel")


def class_position_counts(labels: Iterable[np.ndarray], num_classes: int, size_wh: tuple[int, int]) -> np.ndarray:
    """(C, H, W) float64 counts of each class at each position over label maps resized (nearest) to ``size_wh``."""
    width, height = size_wh
    counts = np.zeros((num_classes, height, width), dtype=np.float64)
    for label in labels:
        small = resize_label(torch.from_numpy(label.astype(np.int64)), size_wh).numpy()
        valid = small != IGNORE_INDEX
        if (small[valid] >= num_classes).any():
            raise ValueError(f"label holds class {int(small[valid].max())} >= {num_classes} classes")
        rows, cols = np.nonzero(valid)
        np.add.at(counts, (small[valid], rows, cols), 1.0)
    return counts


def spatial_prior(counts: np.ndarray, sigma: float, normalization: str) -> np.ndarray:
    """Smoothed, normalised (C, H, W) float32 prior from ``class_position_counts``; sigma in prior pixels."""
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"unknown prior normalization {normalization!r}; valid: {', '.join(NORMALIZATIONS)}")
    smoothed = np.stack([gaussian_filter(c, sigma, mode="nearest") if sigma > 0 else c for c in counts])
    if normalization == "per_class":
        peak = smoothed.reshape(len(smoothed), -1).max(axis=1)
        # A class absent from every source label gets a zero map: it can never be pseudo-labelled.
        prior = smoothed / np.where(peak > 0, peak, 1.0)[:, None, None]
    else:
        total = smoothed.sum(axis=0, keepdims=True)
        prior = smoothed / np.where(total > 0, total, 1.0)
    return prior.astype(np.float32)


class SpatialPrior:
    """prior ⊙ scores for a round's (C, H, W) probabilities, the prior resized bilinearly to their size.

    The resized prior is kept for the next image of the same size (the last size only): resizing 19 maps
    to 2048x1024 for every image cost as much as the rest of its pseudo-label, and a dataset's frames
    share one size."""

    def __init__(self, prior: torch.Tensor) -> None:
        self.prior = prior
        self._key: tuple | None = None
        self._resized: torch.Tensor | None = None

    def apply(self, scores: torch.Tensor) -> torch.Tensor:
        key = (tuple(scores.shape), scores.device, scores.dtype)
        if key != self._key:
            self._key, self._resized = key, self._resize(scores)
        return scores * self._resized

    def _resize(self, scores: torch.Tensor) -> torch.Tensor:
        """The prior at the scores' size, on their device and in their dtype."""
        prior = self.prior
        if prior.shape[0] != scores.shape[0]:
            raise ValueError(f"prior has {prior.shape[0]} classes, the predictions {scores.shape[0]}")
        if tuple(prior.shape[-2:]) != tuple(scores.shape[-2:]):
            size = tuple(scores.shape[-2:])
            prior = F.interpolate(prior[None].float(), size=size, mode="bilinear", align_corners=False)[0]
        return prior.to(scores.device, scores.dtype)


MAT_VARIABLE = "prior_array"


def read_prior_mat(path: str | Path, num_classes: int) -> np.ndarray:
    """The reference's ``prior_array.mat`` as a (C, H, W) float32 prior in [0, 1].

    MATLAB v5 files are read with scipy.io as the reference reads them (``solve_ST.py`` L775-779);
    v7.3 files are HDF5, whose axes h5py returns reversed (column-major), so they are transposed back.
    Two changes, neither of which moves a pseudo-label: negative values (the smoothing may leave
    some; the reference's clamp is commented out) are set to 0, and the array is divided by its
    global maximum so that prior·P fits the [0, 1] confidence histograms. One global factor scales
    every score and every class threshold t_c alike, so argmax(prior·P / t_c) is unchanged.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"spatial prior file {path} does not exist")
    if h5py.is_hdf5(path):
        with h5py.File(path, "r") as mat:
            if MAT_VARIABLE not in mat:
                raise ValueError(f"{path}: no variable {MAT_VARIABLE!r} (found {', '.join(mat)})")
            array = np.asarray(mat[MAT_VARIABLE]).transpose()
    else:
        variables = scipy.io.loadmat(path)
        if MAT_VARIABLE not in variables:
            found = ", ".join(key for key in variables if not key.startswith("__"))
            raise ValueError(f"{path}: no variable {MAT_VARIABLE!r} (found {found})")
        array = variables[MAT_VARIABLE]
    if array.ndim != 3 or array.shape[0] != num_classes:
        raise ValueError(f"{path}: {MAT_VARIABLE} has shape {array.shape}, expected ({num_classes}, height, width)")
    prior = np.clip(array.astype(np.float32), 0.0, None)
    peak = float(prior.max())
    if not np.isfinite(peak) or peak <= 0:
        raise ValueError(f"{path}: {MAT_VARIABLE} has no positive finite value (max {peak})")
    return prior / peak
