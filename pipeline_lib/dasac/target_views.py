"""The augmented views of a target image that DA-SAC's teacher and student see (spec A.6.2).

Each sampled target image becomes ``group_size`` views (``datasets/dataloader_target.py`` L94-139,
``datasets/tf_target.py``). Geometry, in the reference's order:

1. resize the full image to ``size`` (the reference's ``CROP_SIZE``, 512x1024 = 0.5x Cityscapes);
2. rescale all views jointly by U[``joint_scale``] and 3. crop them jointly back to ``size``;
4. flip all views jointly with probability ``hflip``;
5. ``GuidedRandHFlip``: flip each view on its own with probability 0.5, view 0 included;
6. ``MaskRandScaleCrop``: for views 1.. only, take a random window of U[``zoom``] times the size and
   resize it back (a zoom-in); view 0 is never zoomed.

The *reference frame* is the image after step 4. Every view records the affine map between it and
the reference frame in ``affine_grid`` coordinates ([-1, 1], align_corners=False, L220-262): for a
flip f in {1, -1}, a window scale s and normalised window-centre offset (dx, dy),

    A     (reference -> view):  x_v = (f x_ref - dx) / s,   y_v = (y_ref - dy) / s
    A_inv (view -> reference):  x_ref = f (s x_v + dx),     y_ref = s y_v + dy.

We use the window's exact per-axis scales (window width / W, height / H) where the reference uses the
drawn s for both; they differ by the int() rounding of the window size (below one pixel).

The teacher copy is clean; the student copy gets photometric noise per view (L116-123, tf_target
L331-390): a PIL Gaussian blur of radius (= sigma) U[``blur_sigma``] **always**, ``ColorJitter`` with
brightness = contrast = saturation = ``jitter`` and hue min(0.1, ``jitter``) with probability 0.5,
and greyscale with probability ``greyscale_prob``. Both copies get the model's normalisation, and
padded pixels are 0 after it and marked in ``padding``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from pipeline_lib.dasac.importance_weights import draw_image
from pipeline_lib.data.datasets import read_file_list, sample_generator
from pipeline_lib.data.image_io import read_rgb
from pipeline_lib.data.transforms import (
    Convention,
    _coin,
    _randint,
    _uniform,
    color_jitter,
    crop_or_pad,
    draw_crop_window,
    gaussian_blur,
    mean_colour,
    normalize,
    resize_image,
    resize_label,
)

#: The student's ColorJitter runs with this probability (``MaskRandJitter`` p=0.5).
JITTER_PROB = 0.5
#: Hue jitter is min(this, jitter strength) (``MaskRandJitter``: ``hue=min(0.1, jitter)``).
MAX_VIEW_HUE = 0.1
#: ``GuidedRandHFlip`` flips each view with probability 0.5.
GUIDED_FLIP_PROB = 0.5
# PIL ``convert("L")`` luma weights (ITU-R 601-2), which torchvision's to_grayscale uses on PIL images.
_PIL_LUMA = (0.299, 0.587, 0.114)


@dataclass(frozen=True)
class ViewConfig:
    """One target sample's views (config ``dasac.sac.views``; reference values in the defaults)."""

    size: tuple[int, int] = (512, 1024)  # (height, width) of every view: CROP_SIZE
    group_size: int = 4  # views per image: GROUP_SIZE
    joint_scale: tuple[float, float] = (1.0, 1.1)  # TARGET_SCALE
    hflip: float = 0.5  # RND_HFLIP: joint flip probability
    guided_flip: bool = True  # GUIDED_HFLIP: independent per-view flips
    zoom: tuple[float, float] = (0.5, 1.0)  # RND_ZOOM: window scale of views 1..
    blur_sigma: tuple[float, float] | None = (0.1, 2.0)  # RND_BLUR: student blur radius range; None = off
    jitter: float = 0.4  # RND_JITTER: student ColorJitter strength (0 = off)
    greyscale_prob: float = 0.2  # RND_GREYSCALE

    def __post_init__(self) -> None:
        for name in ("size", "joint_scale", "zoom", "blur_sigma"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, tuple(value))
        if self.group_size < 1:
            raise ValueError(f"dasac views.group_size must be >= 1, got {self.group_size}")
        if not 0 < self.zoom[0] <= self.zoom[1] <= 1.0:
            raise ValueError(
                f"dasac views.zoom must satisfy 0 < min <= max <= 1 (zoom-in windows; the reference's zoom-out "
                f"branch is unreachable with its values), got {self.zoom}"
            )
        if not 0 < self.joint_scale[0] <= self.joint_scale[1]:
            raise ValueError(f"dasac views.joint_scale must satisfy 0 < min <= max, got {self.joint_scale}")


@dataclass(frozen=True)
class ViewGeometry:
    """Where one view sits in the reference frame: flip (1 or -1), window scales and normalised centre offset."""

    flip: float = 1.0
    scale_x: float = 1.0
    scale_y: float = 1.0
    offset_x: float = 0.0
    offset_y: float = 0.0

    def affine(self) -> torch.Tensor:
        """A (2x3): reference-frame coordinates -> this view's, for ``affine_grid``."""
        return torch.tensor(
            [
                [self.flip / self.scale_x, 0.0, -self.offset_x / self.scale_x],
                [0.0, 1.0 / self.scale_y, -self.offset_y / self.scale_y],
            ]
        )

    def affine_inv(self) -> torch.Tensor:
        """A_inv (2x3): this view's coordinates -> the reference frame's."""
        return torch.tensor(
            [
                [self.flip * self.scale_x, 0.0, self.flip * self.offset_x],
                [0.0, self.scale_y, self.offset_y],
            ]
        )


def greyscale(image: torch.Tensor) -> torch.Tensor:
    """Three equal channels of the PIL luma, as ``to_grayscale(num_output_channels=3)``."""
    weights = torch.tensor(_PIL_LUMA, dtype=image.dtype).view(3, 1, 1)
    return (image * weights).sum(dim=-3, keepdim=True).expand_as(image).contiguous()


def photometric_noise(image: torch.Tensor, config: ViewConfig, generator: torch.Generator) -> torch.Tensor:
    """The student's noise on one view (RGB on [0, 255]): blur always, then jitter, then greyscale."""
    if config.blur_sigma is not None:
        image = gaussian_blur(image, _uniform(*config.blur_sigma, generator))
    if config.jitter > 0 and _coin(JITTER_PROB, generator):
        j = config.jitter
        image = color_jitter(image, j, j, j, min(MAX_VIEW_HUE, j), generator)
    if _coin(config.greyscale_prob, generator):
        image = greyscale(image)
    return image


def _zoom_window(
    image: torch.Tensor, valid: torch.Tensor, zoom: tuple[float, float], generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, tuple[float, float, float, float]] | None:
    """``MaskRandScaleCrop`` on one view: a random window of s times the size, resized back.

    Returns the new image, valid mask and (scale_x, scale_y, offset_x, offset_y), or None when s == 1.
    """
    height, width = image.shape[-2:]
    scale = _uniform(zoom[0], zoom[1], generator)
    if scale == 1.0:
        return None
    window_h, window_w = max(1, int(scale * height)), max(1, int(scale * width))
    top = _randint(0, height - window_h, generator)
    left = _randint(0, width - window_w, generator)
    window = image[:, top : top + window_h, left : left + window_w]
    window_valid = valid[top : top + window_h, left : left + window_w]
    image = resize_image(window, (width, height))
    valid = resize_label(window_valid, (width, height))
    offset_x = (left + window_w / 2 - width / 2) / (width / 2)
    offset_y = (top + window_h / 2 - height / 2) / (height / 2)
    return image, valid, (window_w / width, window_h / height, offset_x, offset_y)


def make_views(
    image: torch.Tensor, config: ViewConfig, generator: torch.Generator, convention: Convention = "imagenet"
) -> dict[str, torch.Tensor]:
    """The views of one RGB image (3, H, W) on [0, 255].

    Returns ``student`` and ``teacher`` (T, 3, h, w) normalised inputs, ``padding`` (T, h, w) bool,
    and ``affine`` / ``affine_inv`` (T, 2, 3) as described in the module docstring.
    """
    height, width = config.size
    fill = mean_colour(convention)
    image = resize_image(image, (width, height))
    valid = torch.ones((height, width), dtype=torch.bool)
    factor = _uniform(*config.joint_scale, generator)
    if factor != 1.0:
        scaled_wh = (max(1, int(width * factor)), max(1, int(height * factor)))
        image, valid = resize_image(image, scaled_wh), resize_label(valid, scaled_wh)
    top, left = draw_crop_window(tuple(image.shape[-2:]), (height, width), generator)
    image = crop_or_pad(image, top, left, (height, width), fill)
    valid = crop_or_pad(valid, top, left, (height, width), False)
    if _coin(config.hflip, generator):
        image, valid = image.flip(-1), valid.flip(-1)

    students, teachers, paddings, affines, inverses = [], [], [], [], []
    for view in range(config.group_size):
        view_image, view_valid, flip = image, valid, 1.0
        if config.guided_flip and _coin(GUIDED_FLIP_PROB, generator):
            view_image, view_valid, flip = view_image.flip(-1), view_valid.flip(-1), -1.0
        geometry = ViewGeometry(flip=flip)
        if view > 0:
            zoomed = _zoom_window(view_image, view_valid, config.zoom, generator)
            if zoomed is not None:
                view_image, view_valid, (sx, sy, ox, oy) = zoomed
                geometry = ViewGeometry(flip, sx, sy, ox, oy)
        noisy = photometric_noise(view_image, config, generator)
        teachers.append(normalize(torch.where(view_valid, view_image, fill), convention))
        students.append(normalize(torch.where(view_valid, noisy, fill), convention))
        paddings.append(~view_valid)
        affines.append(geometry.affine())
        inverses.append(geometry.affine_inv())
    return {
        "student": torch.stack(students),
        "teacher": torch.stack(teachers),
        "padding": torch.stack(paddings),
        "affine": torch.stack(affines),
        "affine_inv": torch.stack(inverses),
    }


class ImportanceSampledViews(Dataset):
    """DA-SAC's target dataset (``DataTarget``): item k draws an image for class k mod C, then its views.

    The image is drawn from the class's importance-sampling CDF (``sampling_distributions``), as the
    reference's ``__getitem__`` (L264-272) does, and ``length`` is the source list's length
    (``set_num_samples(len(source))``), so a shuffled epoch asks each class about equally often.
    Every random choice comes from the (seed, epoch, k) generator, so a resumed run sees the same samples.
    """

    def __init__(
        self,
        file_list: str | os.PathLike[str],
        cdfs: np.ndarray,
        config: ViewConfig,
        length: int,
        convention: Convention = "imagenet",
        seed: int = 0,
    ) -> None:
        self.frames: pd.DataFrame = read_file_list(file_list)
        if cdfs.shape[1] != len(self.frames):
            raise ValueError(f"{file_list}: {len(self.frames)} images but sampling weights for {cdfs.shape[1]}")
        if length < 1:
            raise ValueError(f"target dataset length must be >= 1, got {length}")
        self.cdfs = cdfs
        self.config = config
        self.length = length
        self.convention = convention
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return self.length

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | str | int]:
        generator = sample_generator(self.seed, self.epoch, index)
        class_id = index % self.cdfs.shape[0]
        image_index = draw_image(self.cdfs, class_id, torch.rand((), generator=generator).item())
        row = self.frames.iloc[image_index]
        image = torch.from_numpy(np.array(read_rgb(row["image"]))).permute(2, 0, 1).float().contiguous()
        views = make_views(image, self.config, generator, self.convention)
        return {**views, "name": row["name"], "index": image_index, "class_id": class_id}
