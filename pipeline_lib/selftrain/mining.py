"""CBST's small-class patch mining (``shared/spec/cbst_mlsl.md`` §6).

Each round, classes are ranked by their share of the target pixels predicted as them (the
threshold histograms' n_c): ``priority`` = every class whose share is below ``mine_thresh`` (0.1 %),
``rare`` = the ``mine_id_number`` classes of smallest share. During fine-tuning, each source or
target crop is, with probability ``mine_port``, centred on a uniformly chosen pixel of a uniformly
chosen candidate class present in the crop-safe interior: priority classes if any are present,
else rare ones; otherwise an ordinary random crop (§6.2).

Unlike the reference under ``kc_policy global`` (all ``cls_size`` equal, so mining picks classes by
argsort ties, §6.1 QUIRK), the shares are the real per-class counts under every policy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from pipeline_lib.data.labels import IGNORE_INDEX
from pipeline_lib.data.transforms import Convention, crop_or_pad, draw_crop_window, mean_colour, random_scale


@dataclass(frozen=True)
class MiningClasses:
    priority: tuple[int, ...]
    rare: tuple[int, ...]


def mining_classes(class_pixels: np.ndarray, mine_thresh: float, mine_id_number: int) -> MiningClasses:
    """Priority (share < ``mine_thresh``, including never-predicted classes) and the rarest classes (§6.1)."""
    total = class_pixels.sum()
    share = class_pixels / total if total > 0 else np.zeros(len(class_pixels))
    priority = tuple(int(c) for c in np.flatnonzero(share < mine_thresh))
    rare = tuple(int(c) for c in np.argsort(share, kind="stable")[:mine_id_number])
    return MiningClasses(priority=priority, rare=rare)


def _coin(p: float, generator: torch.Generator) -> bool:
    return p > 0 and torch.rand((), generator=generator).item() < p


def mined_window(
    label: torch.Tensor, crop_hw: tuple[int, int], classes: MiningClasses, generator: torch.Generator
) -> tuple[int, int] | None:
    """Top-left of a crop centred on a pixel of a small class in the safe interior, or None (§6.2 steps 1-3)."""
    height, width = label.shape
    crop_h, crop_w = crop_hw
    top_band, left_band = crop_h // 2, crop_w // 2
    interior = label[top_band : height - (crop_h - top_band) + 1, left_band : width - (crop_w - left_band) + 1]
    if interior.numel() == 0:
        return None
    present = set(torch.unique(interior).tolist()) - {IGNORE_INDEX}
    candidates = [c for c in classes.priority if c in present] or [c for c in classes.rare if c in present]
    if not candidates:
        return None
    chosen = candidates[int(torch.randint(len(candidates), (), generator=generator))]
    rows, cols = torch.nonzero(interior == chosen, as_tuple=True)
    pick = int(torch.randint(len(rows), (), generator=generator))
    return int(rows[pick]), int(cols[pick])  # interior offset = centre - band = top-left of the window


class MiningAugmentation:
    """CBST's training augmentation (§3.1): random scale, crop (mined with ``mine_port``), flip.

    There is no photometric augmentation in CBST. A ``SampleTransform`` for ``SegmentationDataset``.
    """

    def __init__(
        self,
        scale: tuple[float, float],
        crop_hw: tuple[int, int],
        hflip: float,
        classes: MiningClasses,
        mine_port: float,
        convention: Convention = "imagenet",
    ) -> None:
        self.scale = tuple(scale)
        self.crop_hw = tuple(crop_hw)
        self.hflip = hflip
        self.classes = classes
        self.mine_port = mine_port
        self.convention = convention
        self.fill = mean_colour(convention)

    def __call__(
        self, image: torch.Tensor, label: torch.Tensor | None, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        image, label = random_scale(image, label, self.scale, generator)
        window = None
        if label is not None and _coin(self.mine_port, generator):
            window = mined_window(label, self.crop_hw, self.classes, generator)
        top, left = window if window is not None else draw_crop_window(tuple(image.shape[-2:]), self.crop_hw, generator)
        image = crop_or_pad(image, top, left, self.crop_hw, self.fill)
        if label is not None:
            label = crop_or_pad(label, top, left, self.crop_hw, IGNORE_INDEX)
        if _coin(self.hflip, generator):
            image, label = image.flip(-1), None if label is None else label.flip(-1)
        return image, label
