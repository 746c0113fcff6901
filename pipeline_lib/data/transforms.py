"""Training and evaluation transforms for segmentation samples, in plain torch (no torchvision).

A sample is an image tensor (3, H, W) float32 RGB in [0, 255] and an optional label tensor (H, W)
int64 of train IDs (255 = ignore). Every random choice is drawn from an explicit ``torch.Generator``,
so a sample's augmentation depends only on the generator the dataset derives for it and a run can be
replayed exactly (resume, several dataloader workers).

The behaviours replicate what the reference code gets from PIL/torchvision
(``shared/spec/dasac_adaptsegnet.md`` Part C):

- resizes: PIL bilinear for images (which low-pass filters when shrinking, hence ``antialias``;
  within 1 grey level of PIL's uint8 output) and PIL nearest for labels (pixel centres, index for
  index identical to PIL; torch's ``nearest`` is off by half a pixel);
- ``color_jitter``: torchvision ``ColorJitter`` on float tensors;
- ``gaussian_blur``: PIL ``GaussianBlur(radius)`` where the radius is the Gaussian sigma, edges repeated;
- ``normalize``: the ImageNet convention (DA-SAC A.4.2, CBST §3.1 step 8), the Caffe BGR convention
  (AdaptSegNet B.3) and ProDA/CPSL's plain RGB/255 (cpsl_proda.md §2.1), which imported weights require.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import torch
import torch.nn.functional as F

from pipeline_lib.data.labels import IGNORE_INDEX

Convention = Literal["imagenet", "caffe_bgr", "rgb01"]
CONVENTIONS: tuple[str, ...] = ("imagenet", "caffe_bgr", "rgb01")

_IMAGENET_MEAN = (0.485, 0.456, 0.406)  # RGB, on [0, 1]
_IMAGENET_STD = (0.229, 0.224, 0.225)
_CAFFE_MEAN_BGR = (104.00698793, 116.66876762, 122.67891434)  # AdaptSegNet IMG_MEAN, on [0, 255]

# ITU-R 601-2 luma weights, as torchvision's rgb_to_grayscale uses them for contrast and saturation.
_GREY_WEIGHTS = (0.2989, 0.587, 0.114)

#: DA-SAC applies ColorJitter with this probability when it is enabled (A.4.2 step 4).
COLOR_JITTER_PROB = 0.5
#: DA-SAC's optional source blur uses a fixed PIL radius (= sigma) of 1 (A.4.2 step 2).
BLUR_SIGMA = 1.0
#: DA-SAC caps the hue jitter at 0.5, the full hue circle (A.4.2 step 4: hue = min(0.5, j)).
MAX_HUE = 0.5


class SampleTransform(Protocol):
    """What ``SegmentationDataset`` calls: ``(image, label, generator) -> (image, label)``."""

    def __call__(
        self, image: torch.Tensor, label: torch.Tensor | None, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor | None]: ...


# --------------------------------------------------------------------------------------------------
# Random draws: all from the explicit generator, never from the global RNG.


def _uniform(low: float, high: float, generator: torch.Generator) -> float:
    if low == high:
        return low  # no draw, so a fixed option does not shift the generator's stream
    return low + (high - low) * torch.rand((), generator=generator).item()


def _randint(low: int, high: int, generator: torch.Generator) -> int:
    """Uniform integer in [low, high], both inclusive."""
    if low == high:
        return low
    return int(torch.randint(low, high + 1, (), generator=generator).item())


def _coin(p: float, generator: torch.Generator) -> bool:
    if p <= 0.0:
        return False
    if p >= 1.0:
        return True
    return torch.rand((), generator=generator).item() < p


# --------------------------------------------------------------------------------------------------
# Geometry


def _nearest_indices(in_size: int, out_size: int) -> torch.Tensor:
    """Source index of each output pixel, sampled at pixel centres exactly as PIL NEAREST does.

    PIL (``ImagingScaleAffine``) starts at half a step and adds the step in double precision, which
    decides exact ties (e.g. 30 -> 45 px) by accumulated rounding; a sequential cumulative sum
    reproduces those additions bit for bit.
    """
    step = in_size / out_size
    increments = np.full(out_size, step)
    increments[0] = 0.5 * step
    centres = np.cumsum(increments)
    return torch.from_numpy(np.minimum(centres.astype(np.int64), in_size - 1))


def resize_label(label: torch.Tensor, size_wh: tuple[int, int]) -> torch.Tensor:
    """Nearest-neighbour resize by index gathering: exact for int64 and never invents a label value."""
    width, height = size_wh
    rows = _nearest_indices(label.shape[-2], height)
    cols = _nearest_indices(label.shape[-1], width)
    return label[..., rows[:, None], cols[None, :]]


def resize_image(image: torch.Tensor, size_wh: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize with PIL's behaviour: a triangle filter widened when shrinking (antialias)."""
    width, height = size_wh
    if image.shape[-2:] == (height, width):
        return image
    shrinking = height < image.shape[-2] or width < image.shape[-1]
    resized = F.interpolate(
        image.unsqueeze(0), size=(height, width), mode="bilinear", align_corners=False, antialias=shrinking
    )
    return resized.squeeze(0)


def resize(
    image: torch.Tensor, label: torch.Tensor | None, size_wh: tuple[int, int]
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Resize to (width, height): image bilinear, label nearest (AdaptSegNet B.3 resizes GTA5 to 1280x720)."""
    if label is not None:
        label = resize_label(label, size_wh)
    return resize_image(image, size_wh), label


def random_scale(
    image: torch.Tensor,
    label: torch.Tensor | None,
    scale_range: tuple[float, float],
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Rescale by s ~ U[scale_range] (DA-SAC A.4.2 step 1 ``SCALE_FROM``/``SCALE_TO``; CBST §3.1 step 1)."""
    factor = _uniform(scale_range[0], scale_range[1], generator)
    if factor == 1.0:
        return image, label
    height, width = image.shape[-2:]
    size_wh = (max(1, round(width * factor)), max(1, round(height * factor)))
    return resize(image, label, size_wh)


def draw_crop_window(size_hw: tuple[int, int], crop_hw: tuple[int, int], generator: torch.Generator) -> tuple[int, int]:
    """Top-left corner (top, left) of a crop window, uniform over all placements.

    When the image is smaller than the crop along an axis the corner is negative: the image then lands
    at a uniformly random position inside the padded canvas (as CBST's random corner may run into its
    padding, §3.1 step 4) instead of always at the top-left.
    """
    (height, width), (crop_h, crop_w) = size_hw, crop_hw
    top = _randint(min(0, height - crop_h), max(0, height - crop_h), generator)
    left = _randint(min(0, width - crop_w), max(0, width - crop_w), generator)
    return top, left


def crop_or_pad(
    tensor: torch.Tensor, top: int, left: int, crop_hw: tuple[int, int], fill: float | torch.Tensor
) -> torch.Tensor:
    """The ``crop_hw`` window at (top, left) of a (..., H, W) tensor; outside the tensor it is ``fill``.

    ``fill`` is a scalar or a per-channel tensor broadcastable to (C, 1, 1).
    """
    height, width = tensor.shape[-2:]
    crop_h, crop_w = crop_hw
    if 0 <= top and 0 <= left and top + crop_h <= height and left + crop_w <= width:
        return tensor[..., top : top + crop_h, left : left + crop_w]
    canvas = torch.empty((*tensor.shape[:-2], crop_h, crop_w), dtype=tensor.dtype, device=tensor.device)
    canvas[...] = fill
    src_top, src_left = max(0, top), max(0, left)
    src_bottom, src_right = min(height, top + crop_h), min(width, left + crop_w)
    canvas[..., src_top - top : src_bottom - top, src_left - left : src_right - left] = tensor[
        ..., src_top:src_bottom, src_left:src_right
    ]
    return canvas


def random_crop(
    image: torch.Tensor,
    label: torch.Tensor | None,
    crop_hw: tuple[int, int],
    generator: torch.Generator,
    ignore_index: int = IGNORE_INDEX,
    fill: Sequence[float] | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Random (height, width) crop, padding first where the image is smaller.

    Padded label pixels are ``ignore_index``; padded image pixels are ``fill`` (RGB, 0..255), by default
    the ImageNet mean colour, so they become 0 after normalisation as in DA-SAC (A.4.2 step 5) and CBST
    (§3.1 step 3). Pass ``mean_colour("caffe_bgr")`` for the Caffe convention.
    """
    fill_rgb = mean_colour("imagenet") if fill is None else torch.tensor(fill, dtype=image.dtype).view(3, 1, 1)
    top, left = draw_crop_window(tuple(image.shape[-2:]), crop_hw, generator)
    if label is not None:
        label = crop_or_pad(label, top, left, crop_hw, ignore_index)
    return crop_or_pad(image, top, left, crop_hw, fill_rgb), label


def random_hflip(
    image: torch.Tensor, label: torch.Tensor | None, p: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Flip image and label together with probability ``p`` (DA-SAC A.4.2 step 3, CBST §3.1 step 7)."""
    if not _coin(p, generator):
        return image, label
    return image.flip(-1), None if label is None else label.flip(-1)


# --------------------------------------------------------------------------------------------------
# Photometric (torchvision ColorJitter semantics on float images, PIL Gaussian blur)


def _grey(image: torch.Tensor) -> torch.Tensor:
    """(1, H, W) luma, as torchvision's ``rgb_to_grayscale``."""
    weights = torch.tensor(_GREY_WEIGHTS, dtype=image.dtype).view(3, 1, 1)
    return (image * weights).sum(dim=-3, keepdim=True)


def _blend(image: torch.Tensor, other: torch.Tensor | float, factor: float) -> torch.Tensor:
    """factor·image + (1 − factor)·other, clamped to [0, 255] as torchvision's ``_blend``."""
    return (factor * image + (1.0 - factor) * other).clamp_(0.0, 255.0)


def adjust_brightness(image: torch.Tensor, factor: float) -> torch.Tensor:
    return _blend(image, 0.0, factor)


def adjust_contrast(image: torch.Tensor, factor: float) -> torch.Tensor:
    """Blend with the image's mean grey level (one scalar per image)."""
    return _blend(image, _grey(image).mean(), factor)


def adjust_saturation(image: torch.Tensor, factor: float) -> torch.Tensor:
    """Blend with the per-pixel greyscale image."""
    return _blend(image, _grey(image), factor)


def _rgb_to_hsv(rgb: torch.Tensor) -> torch.Tensor:
    """RGB on [0, 1] to HSV on [0, 1], torchvision's ``_rgb2hsv``."""
    red, green, blue = rgb.unbind(-3)
    value, _ = rgb.max(dim=-3)
    minimum, _ = rgb.min(dim=-3)
    chroma = value - minimum
    grey = chroma == 0  # hue is undefined there; the formula below gives 0, as torchvision's does
    saturation = chroma / torch.where(grey, torch.ones_like(value), value)
    safe_chroma = torch.where(grey, torch.ones_like(chroma), chroma)
    red_c, green_c, blue_c = ((value - channel) / safe_chroma for channel in (red, green, blue))
    is_red = value == red
    is_green = (value == green) & ~is_red
    is_blue = ~is_red & ~is_green
    hue = is_red * (blue_c - green_c) + is_green * (2.0 + red_c - blue_c) + is_blue * (4.0 + green_c - red_c)
    hue = torch.remainder(hue / 6.0, 1.0)
    return torch.stack((hue, saturation, value), dim=-3)


def _hsv_to_rgb(hsv: torch.Tensor) -> torch.Tensor:
    """HSV on [0, 1] to RGB on [0, 1], torchvision's ``_hsv2rgb`` (sector look-up by gather)."""
    hue, saturation, value = hsv.unbind(-3)
    sector_float = torch.floor(hue * 6.0)
    fraction = hue * 6.0 - sector_float
    sector = sector_float.long().remainder(6)
    p = (value * (1.0 - saturation)).clamp(0.0, 1.0)
    q = (value * (1.0 - saturation * fraction)).clamp(0.0, 1.0)
    t = (value * (1.0 - saturation * (1.0 - fraction))).clamp(0.0, 1.0)
    # Rows: R, G, B; columns: the six hue sectors.
    table = torch.stack(
        (
            torch.stack((value, q, p, p, t, value), dim=-3),
            torch.stack((t, value, value, q, p, p), dim=-3),
            torch.stack((p, p, t, value, value, q), dim=-3),
        ),
        dim=-4,
    )
    index = sector.unsqueeze(-3).unsqueeze(-4).expand(*table.shape[:-3], 1, *sector.shape[-2:])
    return table.gather(-3, index).squeeze(-3)


def adjust_hue(image: torch.Tensor, shift: float) -> torch.Tensor:
    """Rotate the hue by ``shift`` (a fraction of the hue circle, in [-0.5, 0.5])."""
    if shift == 0.0:
        return image
    hsv = _rgb_to_hsv(image / 255.0)
    hue = torch.remainder(hsv[-3] + shift, 1.0)
    hsv = torch.cat((hue.unsqueeze(-3), hsv[-2:]), dim=-3)
    return _hsv_to_rgb(hsv) * 255.0


def color_jitter(
    image: torch.Tensor,
    brightness: float,
    contrast: float,
    saturation: float,
    hue: float,
    generator: torch.Generator,
) -> torch.Tensor:
    """torchvision ``ColorJitter`` (DA-SAC A.4.2 step 4 and A.6.2).

    Brightness, contrast and saturation factors come from U[max(0, 1 − j), 1 + j], the hue shift from
    U[−h, h]; the four operations run in a random order. A zero strength leaves that operation out and
    draws nothing for it, as torchvision does.
    """
    if not 0.0 <= hue <= MAX_HUE:
        raise ValueError(f"hue jitter must lie in [0, {MAX_HUE}], got {hue}")
    order = torch.randperm(4, generator=generator).tolist()
    factors = [
        _uniform(max(0.0, 1.0 - j), 1.0 + j, generator) if j > 0 else None for j in (brightness, contrast, saturation)
    ]
    shift = _uniform(-hue, hue, generator) if hue > 0 else None
    operations = (
        (adjust_brightness, factors[0]),
        (adjust_contrast, factors[1]),
        (adjust_saturation, factors[2]),
        (adjust_hue, shift),
    )
    for op_index in order:
        operation, amount = operations[op_index]
        if amount is not None:
            image = operation(image, amount)
    return image


def _gaussian_kernel(sigma: float) -> torch.Tensor:
    radius = max(1, math.ceil(3.0 * sigma))  # ±3σ holds 99.7 % of the mass
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    return kernel / kernel.sum()


def gaussian_blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur by two 1-D convolutions; edges repeated, as PIL's ``GaussianBlur(radius=sigma)``."""
    if sigma <= 0:
        return image
    kernel = _gaussian_kernel(sigma).to(image.dtype)
    radius = kernel.numel() // 2
    channels = image.shape[-3]
    batch = image.reshape(-1, channels, *image.shape[-2:])
    padded = F.pad(batch, (radius, radius, radius, radius), mode="replicate")
    horizontal = F.conv2d(padded, kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
    blurred = F.conv2d(horizontal, kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)
    return blurred.reshape(image.shape)


# --------------------------------------------------------------------------------------------------
# Normalisation


def _check_convention(convention: str) -> None:
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown normalisation convention {convention!r}; expected one of {CONVENTIONS}")


def mean_colour(convention: Convention) -> torch.Tensor:
    """The RGB colour (3, 1, 1) on [0, 255] that ``normalize`` maps to 0: the padding fill."""
    _check_convention(convention)
    if convention == "imagenet":
        return torch.tensor(_IMAGENET_MEAN).view(3, 1, 1) * 255.0
    if convention == "rgb01":
        return torch.zeros(3, 1, 1)
    return torch.tensor(_CAFFE_MEAN_BGR[::-1]).view(3, 1, 1)


def normalize(image: torch.Tensor, convention: Convention) -> torch.Tensor:
    """Network input from an RGB image on [0, 255], (..., 3, H, W).

    ``imagenet``: RGB/255, minus the ImageNet mean, divided by its std (DA-SAC, CBST, torchvision
    weights). ``caffe_bgr``: BGR on 0..255 minus the Caffe mean, no std (AdaptSegNet B.3; imported
    AdaptSegNet weights expect exactly this). ``rgb01``: RGB/255 with no mean and no std (ProDA/CPSL,
    whose mean is all zeros; imported CPSL/ProDA checkpoints expect it, cpsl_proda.md §2.1).
    """
    _check_convention(convention)
    if convention == "imagenet":
        mean = torch.tensor(_IMAGENET_MEAN, dtype=image.dtype, device=image.device).view(3, 1, 1)
        std = torch.tensor(_IMAGENET_STD, dtype=image.dtype, device=image.device).view(3, 1, 1)
        return (image / 255.0 - mean) / std
    if convention == "rgb01":
        return image / 255.0
    return image.flip(-3) - torch.tensor(_CAFFE_MEAN_BGR, dtype=image.dtype, device=image.device).view(3, 1, 1)


def denormalize(image: torch.Tensor, convention: Convention) -> torch.Tensor:
    """Inverse of ``normalize``: RGB on [0, 255] (not clamped), for visualisation."""
    _check_convention(convention)
    if convention == "imagenet":
        mean = torch.tensor(_IMAGENET_MEAN, dtype=image.dtype).view(3, 1, 1)
        std = torch.tensor(_IMAGENET_STD, dtype=image.dtype).view(3, 1, 1)
        return (image * std + mean) * 255.0
    if convention == "rgb01":
        return image * 255.0
    return (image + torch.tensor(_CAFFE_MEAN_BGR, dtype=image.dtype).view(3, 1, 1)).flip(-3)


# --------------------------------------------------------------------------------------------------
# Config-driven pipelines


@dataclass(frozen=True)
class AugmentationConfig:
    """One ``augmentation`` block of the workflow config; each option names the reference it mirrors.

    - ``resize``: (width, height) applied first; AdaptSegNet B.3 resizes GTA5 to 1280x720 and Cityscapes
      to 1024x512 (it uses bicubic, we use PIL-style bilinear). ``None`` keeps the file's size.
    - ``scale``: random rescale range; DA-SAC A.4.2 step 1 (``SCALE_FROM``/``SCALE_TO``), CBST §3.1 0.7-1.3.
    - ``crop``: random crop (height, width), padded with ignore/mean colour; DA-SAC ``CROP_SIZE``, CBST 504.
    - ``hflip``: flip probability; 0.5 in DA-SAC and CBST, 0 for AdaptSegNet (no augmentation).
    - ``color_jitter``: strength j of torchvision ColorJitter with brightness = contrast = saturation = j
      and hue = min(0.5, j), applied with probability 0.5; DA-SAC A.4.2 step 4 (0 = off, CBST has none).
    - ``blur_prob``: probability of a Gaussian blur with sigma 1; DA-SAC A.4.2 step 2 (off in every
      released config).
    """

    resize: tuple[int, int] | None = None
    scale: tuple[float, float] = (1.0, 1.0)
    crop: tuple[int, int] | None = None
    hflip: float = 0.5
    color_jitter: float = 0.0
    blur_prob: float = 0.0

    def __post_init__(self) -> None:
        # Config files give lists; store tuples so the config stays hashable and comparable.
        for name in ("resize", "scale", "crop"):
            value = getattr(self, name)
            if value is not None:
                if len(value) != 2:
                    raise ValueError(f"augmentation.{name} needs two values, got {value!r}")
                object.__setattr__(self, name, tuple(value))
        for name in ("resize", "crop"):
            value = getattr(self, name)
            if value is not None and min(value) < 1:
                raise ValueError(f"augmentation.{name} must be positive, got {value!r}")
        if not 0 < self.scale[0] <= self.scale[1]:
            raise ValueError(f"augmentation.scale must be 0 < min <= max, got {self.scale!r}")
        for name in ("hflip", "blur_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"augmentation.{name} is a probability, got {getattr(self, name)!r}")
        if self.color_jitter < 0:
            raise ValueError(f"augmentation.color_jitter must be >= 0, got {self.color_jitter!r}")


class TrainAugmentation:
    """resize -> random scale -> crop -> flip -> photometric (jitter, blur), per ``AugmentationConfig``.

    Photometric operations run after cropping (cheaper on the crop). The padded area is re-filled with
    the mean colour afterwards, so it is exactly 0 after normalisation however the jitter moved the
    colours; DA-SAC gets the same by zeroing its pad mask after normalisation (A.4.2 step 5).
    ``convention`` must match the dataset's, since it decides that mean colour.
    """

    def __init__(self, config: AugmentationConfig, convention: Convention = "imagenet") -> None:
        self.config = config
        self.convention = convention
        self.fill = mean_colour(convention)

    def __call__(
        self, image: torch.Tensor, label: torch.Tensor | None, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        config = self.config
        if config.resize is not None:
            image, label = resize(image, label, config.resize)
        image, label = random_scale(image, label, config.scale, generator)
        valid = None
        if config.crop is not None:
            top, left = draw_crop_window(tuple(image.shape[-2:]), config.crop, generator)
            valid = crop_or_pad(torch.ones(image.shape[-2:], dtype=torch.bool), top, left, config.crop, False)
            image = crop_or_pad(image, top, left, config.crop, self.fill)
            if label is not None:
                label = crop_or_pad(label, top, left, config.crop, IGNORE_INDEX)
        if _coin(config.hflip, generator):
            image, label = image.flip(-1), None if label is None else label.flip(-1)
            valid = None if valid is None else valid.flip(-1)
        image = self._photometric(image, generator)
        if valid is not None and not bool(valid.all()):
            image = torch.where(valid, image, self.fill)
        return image, label

    def _photometric(self, image: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        strength = self.config.color_jitter
        if strength > 0 and _coin(COLOR_JITTER_PROB, generator):
            image = color_jitter(image, strength, strength, strength, min(MAX_HUE, strength), generator)
        if _coin(self.config.blur_prob, generator):
            image = gaussian_blur(image, BLUR_SIGMA)
        return image


class EvalTransform:
    """Evaluation/inference: resize the image only and keep the label at full resolution.

    Both references score at the label's full resolution, upsampling the prediction (DA-SAC A.7;
    AdaptSegNet B.7 feeds 1024x512 and scores at 2048x1024), so the label is never resized here.
    """

    def __init__(self, resize: tuple[int, int] | None = None) -> None:
        self.resize = None if resize is None else tuple(resize)

    def __call__(
        self, image: torch.Tensor, label: torch.Tensor | None, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.resize is not None:
            image = resize_image(image, self.resize)
        return image, label
