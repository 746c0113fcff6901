"""CutMix of source pixels into the target weak crop (CPSL stage 1, spec §2.6; fixed post-Sep-2022 form).

With probability 0.5 per iteration, one box covering exactly half of the crop area (height fraction
``exp(U(0,1) * ln 0.5)``, width fraction ``0.5 / height fraction``, uniform position, the reference's
``rand_bbox``) is pasted from the source crops into the target crops of the whole batch; the
rectified pseudo-label gets the source ground truth inside the box. Teacher, soft labels and the
strong view are not mixed.
"""

from __future__ import annotations

import math

import torch


def draw_box(
    size_hw: tuple[int, int], area: float, generator: torch.Generator | None = None
) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) of a box of ``area`` of the image with a random aspect ratio, inside bounds."""
    height, width = size_hw
    height_fraction = math.exp(torch.rand((), generator=generator).item() * math.log(area))
    width_fraction = area / height_fraction
    box_h, box_w = round(height_fraction * height), round(width_fraction * width)
    top = round((height - box_h) * torch.rand((), generator=generator).item())
    left = round((width - box_w) * torch.rand((), generator=generator).item())
    return top, left, top + box_h, left + box_w


def paste_images(target: torch.Tensor, source: torch.Tensor, box: tuple[int, int, int, int]) -> torch.Tensor:
    """A copy of ``target`` (N, 3, H, W) with ``source``'s pixels inside ``box``."""
    top, left, bottom, right = box
    mixed = target.clone()
    mixed[..., top:bottom, left:right] = source[..., top:bottom, left:right]
    return mixed


def paste_labels(
    labels: torch.Tensor, source_labels: torch.Tensor, box: tuple[int, int, int, int], stride: int
) -> torch.Tensor:
    """Pseudo-labels (N, h, w) at 1/``stride`` of the crop with the crop-resolution source GT inside ``box``.

    The reference upsamples the labels by ``stride`` (nearest), pastes, and downsamples by 1/stride
    (nearest), so output pixel (i, j) reads crop pixel (stride*i, stride*j); this computes the same
    directly.
    """
    top, left, bottom, right = box
    rows = torch.arange(labels.shape[-2], device=labels.device) * stride
    cols = torch.arange(labels.shape[-1], device=labels.device) * stride
    inside = ((rows >= top) & (rows < bottom))[:, None] & ((cols >= left) & (cols < right))[None, :]
    sampled = source_labels[:, rows[:, None], cols[None, :]]
    return torch.where(inside, sampled, labels)
