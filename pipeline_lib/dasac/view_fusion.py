"""Fusing the teacher's predictions over the views of one image (DA-SAC spec A.6.4).

``models/sac.py`` ``_refine`` (L271-313) with ``_avg_pool`` (L238-269): every view's softmax q_v is
zeroed at padded pixels and warped into the reference frame with A_v (``grid_sample``, bilinear, zero
padding, align_corners=False), weighted by the view's footprint (ones warped with A_v_inv). Per
reference pixel p the views are summed, S(p) = sum_v q~_v(p), n(p) = sum_c S_c(p) counts the views
that cover p, and the fused distribution is F(p) = S(p) / max(n(p), 1e-3), valid where n(p) > 0.1.
F and the valid mask are warped back into every view with A_v_inv and multiplied: the result is the
plain average of the teacher softmax over all views (scales x flips) that see a location, in each
view's own coordinates.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: ``_avg_pool``'s tolerances: a pixel is covered when the summed mass exceeds this ...
COVERAGE_TOLERANCE = 0.1
#: ... and the sum is divided by at least this.
MIN_NORMALISER = 1e-3


def warp(tensor: torch.Tensor, affine: torch.Tensor) -> torch.Tensor:
    """Sample ``tensor`` (N, C, H, W) at the points ``affine`` (N, 2, 3) maps each output pixel to."""
    grid = F.affine_grid(affine.to(tensor.dtype), list(tensor.shape), align_corners=False)
    return F.grid_sample(tensor, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def fuse_views(
    probabilities: torch.Tensor,
    group_size: int,
    affine: torch.Tensor,
    affine_inv: torch.Tensor,
    padding: torch.Tensor | None = None,
) -> torch.Tensor:
    """Average the views' class distributions where they overlap, returned in each view's frame.

    ``probabilities``: (B*T, C, H, W) teacher softmax of B images x T = ``group_size`` consecutive
    views; ``affine`` / ``affine_inv``: (B*T, 2, 3) from ``target_views``; ``padding``: (B*T, H, W)
    pixels to ignore. Pixels no view covers come back as all-zero vectors.
    """
    views, classes, height, width = probabilities.shape
    if views % group_size:
        raise ValueError(f"{views} views do not split into groups of {group_size}")
    if padding is not None:
        probabilities = probabilities * (~padding).unsqueeze(1).to(probabilities.dtype)
    aligned = warp(probabilities, affine)
    footprint = warp(torch.ones_like(aligned), affine_inv)
    summed = (aligned * footprint).view(-1, group_size, classes, height, width).sum(dim=1, keepdim=True)
    coverage = summed.sum(dim=2, keepdim=True)
    fused = summed / coverage.clamp(min=MIN_NORMALISER)
    valid = (coverage > COVERAGE_TOLERANCE).to(probabilities.dtype)
    fused = fused.expand(-1, group_size, -1, -1, -1).flatten(0, 1)
    valid = valid.expand(-1, group_size, -1, -1, -1).flatten(0, 1)
    return warp(fused, affine_inv) * warp(valid, affine_inv)
