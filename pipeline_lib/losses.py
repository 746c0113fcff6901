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

    The mean over labelled pixels is written as sum / count (bitwise the same as the ``mean``
    reduction, loss and gradients) so that a batch without any labelled pixel gives 0 with a graph
    instead of NaN, without a host-side ``if`` that would stall the GPU every iteration.
    """
    logits = upsample_logits(logits, tuple(labels.shape[-2:]))
    total = F.cross_entropy(logits.float(), labels, ignore_index=IGNORE_INDEX, reduction="sum")
    return total / (labels != IGNORE_INDEX).sum().clamp(min=1)
