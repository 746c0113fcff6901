"""Target predictions for pseudo-labelling, and the class-balanced label assignment.

- ``predict_stride8``: flip/scale-averaged softmax at the stride-8 grid of the image (§4.1), with
  MLSL's SISC patch aggregation (§8.1) as an option.
- ``assign_labels``: label = argmax_c score_c / t_c, ignored (255) where max_c score_c / t_c < 1
  (§4.5; the paper's argmax_c [log p_c + k_c] kept when positive).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pipeline_lib.data.labels import IGNORE_INDEX

OUTPUT_STRIDE = 8
#: SISC windows predicted per forward pass (twice as many views with flips): one launch sequence for
#: several windows, bounded so that 512x512 windows of DeepLab-v2 R101 stay within a 24 GB GPU.
SISC_BATCH = 8


@dataclass(frozen=True)
class PredictionConfig:
    """How the round's model predicts the target set (CBST ``--test-scales``/``--test-flipping``; MLSL SISC)."""

    scales: tuple[float, ...] = (1.0,)
    flip: bool = True
    sisc_patches: int = 0  # MLSL: 25 random windows per image; 0 = plain CBST prediction
    sisc_patch_size: tuple[int, int] = (512, 512)  # (height, width) in image pixels, multiples of 8


def stride8_size(size_hw: tuple[int, int]) -> tuple[int, int]:
    return math.ceil(size_hw[0] / OUTPUT_STRIDE), math.ceil(size_hw[1] / OUTPUT_STRIDE)


def _softmax_at(model: nn.Module, images: torch.Tensor, grid_hw: tuple[int, int], flip: bool) -> torch.Tensor:
    """(N, C, h, w) softmax of ``images`` (N, 3, H, W), flip-averaged, resized to ``grid_hw``.

    The images and their mirrors go through the network as one batch; each image's two views are
    then summed in the order of the per-view loop (plain, then mirrored).
    """
    batch = torch.cat([images, images.flip(-1)]) if flip else images
    probs = model(batch)["out"].float().softmax(dim=1)
    if tuple(probs.shape[-2:]) != tuple(grid_hw):
        probs = F.interpolate(probs, size=grid_hw, mode="bilinear", align_corners=True)
    if not flip:
        return probs
    count = images.shape[0]
    return (probs[:count] + probs[count:].flip(-1)) / 2


def sisc_windows(size_hw: tuple[int, int], patch_hw: tuple[int, int], count: int, generator: torch.Generator):
    """Top-left corners (in stride-8 cells) of ``count`` windows drawn uniformly inside the image.

    MLSL draws pixel corners in [0, H-512) × [0, W-512) with an unseeded RNG (§8.1 step 2); we draw
    them on the stride-8 grid from a seeded generator, so each patch's output cells coincide with the
    full image's and the aggregation happens at the stored resolution.
    """
    cells_h, cells_w = stride8_size(size_hw)
    patch_h, patch_w = patch_hw[0] // OUTPUT_STRIDE, patch_hw[1] // OUTPUT_STRIDE
    if patch_h > cells_h or patch_w > cells_w:
        raise ValueError(f"SISC patch {patch_hw} (H, W) does not fit in an image of {size_hw}")
    tops = torch.randint(0, cells_h - patch_h + 1, (count,), generator=generator)
    lefts = torch.randint(0, cells_w - patch_w + 1, (count,), generator=generator)
    return list(zip(tops.tolist(), lefts.tolist(), strict=True))


@torch.no_grad()
def predict_stride8(
    model: nn.Module, image: torch.Tensor, config: PredictionConfig, generator: torch.Generator
) -> torch.Tensor:
    """(C, h, w) probabilities at the stride-8 grid of ``image`` (1, 3, H, W), normalised.

    Multi-scale views are averaged (the reference allows one scale; several are CRST's option). With
    ``sisc_patches`` > 0 each window is predicted on its own at native scale and added in; every cell
    is divided by 1 + the number of windows covering it, the average of MLSL §8.1 step 4.
    """
    size_hw = tuple(image.shape[-2:])
    grid = stride8_size(size_hw)
    total = None
    for scale in config.scales:
        scaled_hw = (max(OUTPUT_STRIDE, round(size_hw[0] * scale)), max(OUTPUT_STRIDE, round(size_hw[1] * scale)))
        view = image
        if scaled_hw != size_hw:
            view = F.interpolate(image, size=scaled_hw, mode="bilinear", align_corners=False)
        probs = _softmax_at(model, view, grid, config.flip)
        total = probs if total is None else total + probs
    probs = (total / len(config.scales))[0]
    if config.sisc_patches <= 0:
        return probs
    patch_h, patch_w = config.sisc_patch_size[0] // OUTPUT_STRIDE, config.sisc_patch_size[1] // OUTPUT_STRIDE
    count = torch.ones(grid, device=probs.device)
    windows = sisc_windows(size_hw, config.sisc_patch_size, config.sisc_patches, generator)
    for first in range(0, len(windows), SISC_BATCH):
        chunk = windows[first : first + SISC_BATCH]
        crops = torch.cat([
            image[..., top * OUTPUT_STRIDE : (top + patch_h) * OUTPUT_STRIDE,
                  left * OUTPUT_STRIDE : (left + patch_w) * OUTPUT_STRIDE]
            for top, left in chunk
        ])
        patches = _softmax_at(model, crops, (patch_h, patch_w), config.flip)
        for (top, left), patch in zip(chunk, patches, strict=True):
            probs[:, top : top + patch_h, left : left + patch_w] += patch
            count[top : top + patch_h, left : left + patch_w] += 1
    return probs / count


def assign_labels(scores: torch.Tensor, thresholds: np.ndarray, floor: float) -> torch.Tensor:
    """(H, W) uint8 train IDs from (C, H, W) scores: argmax of score_c / t_c, 255 where that is below 1.

    ``floor`` keeps a threshold in the lowest histogram bin (lower edge 0) from dividing by zero.
    """
    t = torch.as_tensor(np.maximum(thresholds, floor), dtype=torch.float32, device=scores.device)
    ratio = scores.float() / t[:, None, None]
    best, label = ratio.max(dim=0)
    label[best < 1.0] = IGNORE_INDEX
    return label.to(torch.uint8)
