"""The target sample of CPSL stages 1-3: weak crop, its parameters, strong view, full image, labels (spec §6.3).

Weak view: the reference's ``RandomSized`` (aspect-preserving rescale), ``RandomCrop`` and
``RandomHorizontallyFlip``, with their parameters returned so that stage 1 can map full-image EMA
features into the crop (``full_to_weak``). Strong view: ``strong_augmentation.strong_view`` of the
weak crop. Soft labels (stage 1) are cropped at 1/4 of the crop's resolution straight from the
stride-8 store instead of being upsampled to 1024x2048 first (the fix of spec §12; the reference
upsamples, resizes, crops and then downsamples by 4). Hard labels (stages 2/3) go through the weak
geometry at full resolution (nearest), as the reference's label pipeline.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from pipeline_lib.cpsl.hard_label_store import HardLabelStore
from pipeline_lib.cpsl.soft_label_store import SoftLabelStore
from pipeline_lib.cpsl.strong_augmentation import StrongAugmentationConfig, strong_view
from pipeline_lib.data.datasets import read_file_list, sample_generator
from pipeline_lib.data.image_io import read_rgb
from pipeline_lib.data.labels import IGNORE_INDEX
from pipeline_lib.data.transforms import (
    Convention,
    _coin,
    _uniform,
    crop_or_pad,
    draw_crop_window,
    mean_colour,
    normalize,
    resize_image,
    resize_label,
)

#: Stage-1 losses live at 1/4 of the crop (the reference's ``scale_factor=0.25``).
QUARTER = 4


@dataclass(frozen=True)
class WeakAugmentationConfig:
    """RandomSized + RandomCrop + flip. Reference: width U(0.5, 1.5) x 2200 on 2048-wide images (scale
    0.54-1.61), crop 512x896 (height, width), flip 0.5."""

    scale: tuple[float, float] = (0.537, 1.611)
    crop: tuple[int, int] = (512, 896)
    hflip: float = 0.5

    def __post_init__(self) -> None:
        object.__setattr__(self, "scale", tuple(self.scale))
        object.__setattr__(self, "crop", tuple(self.crop))
        if not 0 < self.scale[0] <= self.scale[1]:
            raise ValueError(f"cpsl weak_augmentation.scale must be 0 < min <= max, got {self.scale}")
        if any(side % QUARTER for side in self.crop):
            raise ValueError(f"cpsl weak_augmentation.crop {self.crop} must be divisible by {QUARTER} (losses at 1/4)")


class TargetViews(Dataset):
    """Target frames of a file list as CPSL samples (see the module docstring); no ground truth is read.

    An item holds ``image`` (normalised weak crop), ``weak_scaled_hw``, ``weak_top_left``,
    ``weak_flip``, ``weak_valid`` (1/4-resolution bool, False on crop padding), ``name``, ``index``;
    with ``full_image`` the normalised un-augmented image; with ``strong`` ``strong_image`` and the
    ``strong`` record; with ``soft_labels`` ``soft_label`` (C, h/4, w/4) float; with ``hard_labels``
    ``pseudo_label`` (h, w) int64 at crop resolution.
    """

    def __init__(
        self,
        file_list: str | os.PathLike[str],
        weak: WeakAugmentationConfig,
        convention: Convention,
        *,
        seed: int,
        strong: StrongAugmentationConfig | None = None,
        full_image: bool = False,
        soft_labels: SoftLabelStore | None = None,
        hard_labels: HardLabelStore | None = None,
    ) -> None:
        self.frames = read_file_list(file_list)
        self.weak = weak
        self.convention = convention
        self.seed = seed
        self.strong = strong
        self.full_image = full_image
        self.soft_labels = soft_labels
        self.hard_labels = hard_labels
        self.epoch = 0
        for store in (soft_labels, hard_labels):
            if store is not None:
                absent = sorted(set(self.frames["name"]) - store.names)
                if absent:
                    raise ValueError(f"{store.path} has no labels for {len(absent)} target image(s), e.g. {absent[:3]}")

    def __len__(self) -> int:
        return len(self.frames)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, index: int) -> dict:
        row = self.frames.iloc[index]
        image = torch.from_numpy(np.array(read_rgb(row["image"]))).permute(2, 0, 1).float().contiguous()
        generator = sample_generator(self.seed, self.epoch, index)
        height, width = image.shape[-2:]
        factor = _uniform(self.weak.scale[0], self.weak.scale[1], generator)
        scaled_hw = (max(1, round(height * factor)), max(1, round(width * factor)))
        top, left = draw_crop_window(scaled_hw, self.weak.crop, generator)
        flip = _coin(self.weak.hflip, generator)

        def weak_geometry(tensor: torch.Tensor, fill: float | torch.Tensor, stride: int = 1) -> torch.Tensor:
            crop = (self.weak.crop[0] // stride, self.weak.crop[1] // stride)
            out = crop_or_pad(tensor, top // stride, left // stride, crop, fill)
            return out.flip(-1) if flip else out

        weak = weak_geometry(resize_image(image, (scaled_hw[1], scaled_hw[0])), mean_colour(self.convention))
        quarter_hw = (scaled_hw[0] // QUARTER, scaled_hw[1] // QUARTER)
        item = {
            "image": normalize(weak, self.convention),
            "name": row["name"],
            "index": index,
            "weak_scaled_hw": torch.tensor(scaled_hw),
            "weak_top_left": torch.tensor((top, left)),
            "weak_flip": torch.tensor(flip),
            "weak_valid": weak_geometry(torch.ones(quarter_hw, dtype=torch.bool), False, QUARTER),
        }
        if self.full_image:
            item["full_image"] = normalize(image, self.convention)
        if self.strong is not None:
            strong, record = strong_view(weak, self.strong, generator)
            item["strong_image"] = normalize(strong, self.convention)
            item["strong"] = record.as_dict()
        if self.soft_labels is not None:
            soft = torch.from_numpy(self.soft_labels[row["name"]]).float()[None]
            soft = F.interpolate(soft, size=quarter_hw, mode="bilinear", align_corners=True)[0]
            item["soft_label"] = weak_geometry(soft, 1.0 / soft.shape[0], QUARTER)
        if self.hard_labels is not None:
            labels = torch.from_numpy(self.hard_labels[row["name"]].astype(np.int64))
            if tuple(labels.shape) != (height, width):
                raise ValueError(
                    f"{self.hard_labels.path}: pseudo-label of {row['name']} is {tuple(labels.shape)}, "
                    f"the image {(height, width)}"
                )
            item["pseudo_label"] = weak_geometry(resize_label(labels, (scaled_hw[1], scaled_hw[0])), IGNORE_INDEX)
        return item


def full_to_weak(
    features: torch.Tensor, scaled_hw: torch.Tensor, top_left: torch.Tensor, flip: torch.Tensor, out_hw: tuple[int, int]
) -> torch.Tensor:
    """Full-image maps (N, D, h, w) carried into each weak crop at 1/4 of its resolution (CPSL ``full2weak``).

    Per image: bilinear resize (align_corners=True) to 1/4 of its RandomSized size, crop the window
    at (top/4, left/4) of size ``out_hw`` (zeros outside), flip if the weak view was flipped. The
    reference upsamples to 1/4 of the full image first and resizes from there; one resize here.
    """
    out = []
    for i in range(features.shape[0]):
        size = (int(scaled_hw[i, 0]) // QUARTER, int(scaled_hw[i, 1]) // QUARTER)
        resized = F.interpolate(features[i : i + 1], size=size, mode="bilinear", align_corners=True)[0]
        top, left = int(top_left[i, 0]) // QUARTER, int(top_left[i, 1]) // QUARTER
        crop = crop_or_pad(resized, top, left, out_hw, 0.0)
        out.append(crop.flip(-1) if bool(flip[i]) else crop)
    return torch.stack(out)
