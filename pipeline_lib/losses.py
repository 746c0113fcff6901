"""Segmentation losses shared by the methods."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from pipeline_lib.data.labels import IGNORE_INDEX


def upsample_logits(logits: torch.Tensor, size_hw: tuple[int, int]) -> torch.Tensor:
    """Bilinear with ``align_corners=True``, as DeepLab-v2, AdaptSegNet, DA-SAC and ProDA all upsample."""
    if tuple(logits.shape[-2:]) == tuple(size_hw):
        return logits
    return F.interpolate(logits, size=size_hw, mode="bilinear", align_corners=True)


def segmentation_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Pixel-wise CE at label resolution (logits upsampled first), ignoring 255.

    Returns 0 (with a graph) when a batch has no labelled pixel, instead of NaN.
    """
    logits = upsample_logits(logits, tuple(labels.shape[-2:]))
    if not (labels != IGNORE_INDEX).any():
        return logits.sum() * 0.0
    return F.cross_entropy(logits.float(), labels, ignore_index=IGNORE_INDEX)
