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

Applied as the reference does (CBST ``solve_ST.py`` L847-852): multiplied elementwise into the
probabilities at the image's resolution before the argmax, the thresholds and the label assignment,
with no renormalisation afterwards, and never in the training loss.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
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


def apply_spatial_prior(scores: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
    """prior ⊙ scores for (C, H, W) ``scores``; the prior is resized bilinearly to the scores' size."""
    if prior.shape[0] != scores.shape[0]:
        raise ValueError(f"prior has {prior.shape[0]} classes, the predictions {scores.shape[0]}")
    if tuple(prior.shape[-2:]) != tuple(scores.shape[-2:]):
        size = tuple(scores.shape[-2:])
        prior = F.interpolate(prior[None].float(), size=size, mode="bilinear", align_corners=False)[0]
    return scores * prior.to(scores.device, scores.dtype)
