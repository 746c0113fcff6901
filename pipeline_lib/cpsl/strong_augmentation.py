"""CPSL's strong view, ``RandAugmentMC(n=2, m=10, jitter=0.4)``, and the replay of its geometry (spec §2.5).

Applied to the weak crop (RGB on [0, 255]), in the reference's order (CPSL ``data/randaugment.py``
L229-262): horizontal flip (p 0.5), Gaussian blur radius 1 (p 0.5), ColorJitter (p 0.5), then ``n``
operations drawn with replacement from FixMatch's pool, each with magnitude ``randint(1, m - 1)`` and
applied with p 0.5, and always a grey ``CutoutAbs`` square of side min(W, H) // 3.

The pixel operations follow PIL's definitions on 8-bit images (values are rounded to integers after
each one). The geometric ones (flip, rotate, shear, translate, cutout) are recorded in a
``StrongRecord`` so that labels, prototype similarities and pseudo-labels at 1/4 of the crop can be
carried into the strong view's geometry (``replay``, the reference's ``label_strong_T``). The
reference replays in a fixed order (flip, shears, translations, rotation); we replay in the order the
ops were applied, which is what the image saw (documented in docs/upstream-differences.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from pipeline_lib.data.transforms import (
    _coin,
    _randint,
    _uniform,
    adjust_brightness,
    adjust_contrast,
    adjust_saturation,
    color_jitter,
    gaussian_blur,
)

GREY = 127.0  # fill of rotations, shears, translations and the cutout (reference (127, 127, 127))
PARAMETER_MAX = 10
#: Geometric operation codes in ``StrongRecord.ops``; 0 = no operation in that slot.
GEOMETRIC_OPS = {"Rotate": 1, "ShearX": 2, "ShearY": 3, "TranslateX": 4, "TranslateY": 5}
#: FixMatch's pool (name, max value, bias), CPSL ``fixmatch_augment_pool``.
FIXMATCH_POOL: tuple[tuple[str, float, float], ...] = (
    ("AutoContrast", 0, 0),
    ("Brightness", 0.9, 0.05),
    ("Color", 0.9, 0.05),
    ("Contrast", 0.9, 0.05),
    ("Equalize", 0, 0),
    ("Identity", 0, 0),
    ("Posterize", 4, 4),
    ("Rotate", 30, 0),
    ("Sharpness", 0.9, 0.05),
    ("ShearX", 0.3, 0),
    ("ShearY", 0.3, 0),
    ("Solarize", 256, 0),
    ("TranslateX", 0.3, 0),
    ("TranslateY", 0.3, 0),
)


@dataclass(frozen=True)
class StrongAugmentationConfig:
    """``RandAugmentMC`` settings (reference: n 2, m 10, jitter 0.4, each probability 0.5, cutout on)."""

    ops: int = 2
    magnitude: int = 10
    jitter: float = 0.4
    flip_prob: float = 0.5
    blur_prob: float = 0.5
    jitter_prob: float = 0.5
    op_prob: float = 0.5
    cutout: bool = True

    def __post_init__(self) -> None:
        if self.ops < 0 or not 2 <= self.magnitude <= PARAMETER_MAX:
            raise ValueError(
                f"strong augmentation needs ops >= 0 and 2 <= magnitude <= 10, got {self.ops}, {self.magnitude}"
            )


@dataclass(frozen=True)
class StrongRecord:
    """The geometry one strong view applied, as tensors that collate into a batch.

    ``flip`` () bool; ``ops`` (n, 2) float: (code, value) per applied geometric op in order, code 0 =
    none (value = degrees, shear factor, or translation in crop pixels); ``cutout`` (4,) int64
    (x0, y0, x1, y1) in crop pixels, all -1 when there is none.
    """

    flip: torch.Tensor
    ops: torch.Tensor
    cutout: torch.Tensor

    def as_dict(self) -> dict[str, torch.Tensor]:
        return {"flip": self.flip, "ops": self.ops, "cutout": self.cutout}


# --------------------------------------------------------------------------------------------------
# Pixel operations (PIL ImageOps / ImageEnhance on 8-bit values)


def _quantize(image: torch.Tensor) -> torch.Tensor:
    return image.round().clamp(0.0, 255.0)


def autocontrast(image: torch.Tensor) -> torch.Tensor:
    """Stretch each channel's [min, max] to [0, 255] (``ImageOps.autocontrast``, cutoff 0)."""
    low = image.amin(dim=(-2, -1), keepdim=True)
    high = image.amax(dim=(-2, -1), keepdim=True)
    scale = 255.0 / (high - low).clamp(min=1e-6)
    return torch.where(high > low, (image - low) * scale, image)


def equalize(image: torch.Tensor) -> torch.Tensor:
    """Per-channel histogram equalisation with PIL's look-up table (``ImageOps.equalize``)."""
    out = []
    for channel in _quantize(image).long():
        histogram = torch.bincount(channel.flatten(), minlength=256)
        nonzero = histogram[histogram > 0]
        step = (histogram.sum() - nonzero[-1]) // 255
        if step == 0:
            out.append(channel.float())
            continue
        cumulative = torch.cumsum(histogram, 0) - histogram  # pixels strictly below each value
        lut = ((cumulative + step // 2) // step).clamp(max=255)
        out.append(lut[channel].float())
    return torch.stack(out)


def posterize(image: torch.Tensor, bits: int) -> torch.Tensor:
    """Keep the ``bits`` high bits of every 8-bit value."""
    mask = ~(2 ** (8 - bits) - 1) & 0xFF
    return (_quantize(image).long() & mask).float()


def solarize(image: torch.Tensor, threshold: int) -> torch.Tensor:
    """Invert every value >= ``threshold``."""
    return torch.where(image >= threshold, 255.0 - image, image)


def sharpness(image: torch.Tensor, factor: float) -> torch.Tensor:
    """Blend with PIL's SMOOTH-filtered image (kernel [[1,1,1],[1,5,1],[1,1,1]]/13, border pixels kept)."""
    kernel = torch.ones(3, 3, dtype=image.dtype)
    kernel[1, 1] = 5.0
    kernel = (kernel / 13.0).expand(3, 1, 3, 3)
    smooth = image.clone()
    if image.shape[-2] > 2 and image.shape[-1] > 2:
        smooth[..., 1:-1, 1:-1] = F.conv2d(image[None], kernel, groups=3)[0]
    return smooth + factor * (image - smooth)


# --------------------------------------------------------------------------------------------------
# Geometry: PIL-style inverse affine maps in continuous pixel coordinates (pixel i spans [i, i + 1])


def inverse_matrix(code: int, value: float, size_hw: tuple[int, int], scale: float = 1.0) -> torch.Tensor:
    """3x3 map from output to input coordinates of one geometric op on a tensor at 1/``scale`` of the crop.

    Shears and translations follow ``Image.transform(AFFINE, (a, b, c, d, e, f))`` (about the top-left
    corner); rotation follows ``Image.rotate`` (counter-clockwise about the centre). At 1/``scale``
    the linear part is unchanged and translations shrink by ``scale``, as the reference's replay
    divides them by 4.
    """
    height, width = size_hw
    matrix = torch.eye(3, dtype=torch.float64)
    if code == GEOMETRIC_OPS["ShearX"]:
        matrix[0, 1] = value
    elif code == GEOMETRIC_OPS["ShearY"]:
        matrix[1, 0] = value
    elif code == GEOMETRIC_OPS["TranslateX"]:
        matrix[0, 2] = value / scale
    elif code == GEOMETRIC_OPS["TranslateY"]:
        matrix[1, 2] = value / scale
    elif code == GEOMETRIC_OPS["Rotate"]:
        angle = math.radians(value)
        cx, cy = width / 2.0, height / 2.0
        cos, sin = math.cos(angle), math.sin(angle)
        matrix[:2, :2] = torch.tensor([[cos, -sin], [sin, cos]], dtype=torch.float64)
        matrix[0, 2] = cx - cos * cx + sin * cy
        matrix[1, 2] = cy - sin * cx - cos * cy
    else:
        raise ValueError(f"unknown geometric op code {code}")
    return matrix


def warp(tensor: torch.Tensor, matrix: torch.Tensor, mode: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Resample a (C, H, W) tensor through an output->input map; returns it and its validity (H, W).

    Positions mapped outside the input read 0 (``grid_sample`` zero padding); the validity map says
    how much of each output pixel came from inside (0..1 for bilinear, 0 or 1 for nearest).
    """
    height, width = tensor.shape[-2:]
    ys, xs = torch.meshgrid(
        torch.arange(height, dtype=torch.float64) + 0.5, torch.arange(width, dtype=torch.float64) + 0.5, indexing="ij"
    )
    points = torch.stack((xs, ys, torch.ones_like(xs)), dim=-1) @ matrix.t()
    grid = torch.stack((2.0 * points[..., 0] / width - 1.0, 2.0 * points[..., 1] / height - 1.0), dim=-1)
    grid = grid[None].float().to(tensor.device)
    stacked = torch.cat((tensor.float(), torch.ones(1, height, width, device=tensor.device)), dim=0)[None]
    warped = F.grid_sample(stacked, grid, mode=mode, padding_mode="zeros", align_corners=False)[0]
    return warped[:-1].to(tensor.dtype), warped[-1]


# --------------------------------------------------------------------------------------------------
# The strong view


def _float_parameter(level: int, max_value: float) -> float:
    return float(level) * max_value / PARAMETER_MAX


def _int_parameter(level: int, max_value: float) -> int:
    return int(level * max_value / PARAMETER_MAX)


def _signed(value: float, generator: torch.Generator) -> float:
    return -value if _coin(0.5, generator) else value


def _apply_op(
    image: torch.Tensor, name: str, level: int, max_value: float, bias: float, generator: torch.Generator
) -> tuple[torch.Tensor, tuple[int, float] | None]:
    """One pool operation; returns the image and (code, value) for the geometric ones."""
    height, width = image.shape[-2:]
    if name == "AutoContrast":
        return _quantize(autocontrast(image)), None
    if name == "Brightness":
        return _quantize(adjust_brightness(image, _float_parameter(level, max_value) + bias)), None
    if name == "Color":
        return _quantize(adjust_saturation(image, _float_parameter(level, max_value) + bias)), None
    if name == "Contrast":
        return _quantize(adjust_contrast(image, _float_parameter(level, max_value) + bias)), None
    if name == "Equalize":
        return equalize(image), None
    if name == "Identity":
        return image, None
    if name == "Posterize":
        return posterize(image, _int_parameter(level, max_value) + int(bias)), None
    if name == "Sharpness":
        return _quantize(sharpness(image, _float_parameter(level, max_value) + bias)), None
    if name == "Solarize":
        return solarize(image, 256 - (_int_parameter(level, max_value) + int(bias))), None
    if name == "Rotate":
        value = float(_signed(_int_parameter(level, max_value) + bias, generator))
    elif name in ("ShearX", "ShearY"):
        value = _signed(_float_parameter(level, max_value) + bias, generator)
    elif name in ("TranslateX", "TranslateY"):
        fraction = _signed(_float_parameter(level, max_value) + bias, generator)
        value = float(int(fraction * (width if name == "TranslateX" else height)))
    else:
        raise ValueError(f"unknown RandAugment op {name!r}")
    code = GEOMETRIC_OPS[name]
    warped, valid = warp(image, inverse_matrix(code, value, (height, width)), "bilinear")
    return _quantize(warped + (1.0 - valid) * GREY), (code, value)


def strong_view(
    image: torch.Tensor, config: StrongAugmentationConfig, generator: torch.Generator
) -> tuple[torch.Tensor, StrongRecord]:
    """The strong view of an RGB crop on [0, 255] (3, H, W) and the record of its geometry."""
    height, width = image.shape[-2:]
    flip = _coin(config.flip_prob, generator)
    if flip:
        image = image.flip(-1)
    if _coin(config.blur_prob, generator):
        image = gaussian_blur(image, 1.0)
    if config.jitter > 0 and _coin(config.jitter_prob, generator):
        j = config.jitter
        image = color_jitter(image, j, j, j, min(0.5, j), generator)
    image = _quantize(image)
    ops = torch.zeros(config.ops, 2, dtype=torch.float64)
    slot = 0
    for _ in range(config.ops):
        name, max_value, bias = FIXMATCH_POOL[_randint(0, len(FIXMATCH_POOL) - 1, generator)]
        level = _randint(1, config.magnitude - 1, generator)
        if _coin(config.op_prob, generator):
            image, geometry = _apply_op(image, name, level, max_value, bias, generator)
            if geometry is not None:
                ops[slot] = torch.tensor(geometry, dtype=torch.float64)
                slot += 1
    cutout = torch.full((4,), -1, dtype=torch.int64)
    if config.cutout:
        side = min(width, height) // 3
        x0 = int(max(0.0, _uniform(0.0, width, generator) - side / 2.0))
        y0 = int(max(0.0, _uniform(0.0, height, generator) - side / 2.0))
        x1, y1 = int(min(width, x0 + side)), int(min(height, y0 + side))
        image = image.clone()
        image[:, y0:y1, x0:x1] = GREY
        cutout = torch.tensor((x0, y0, x1, y1), dtype=torch.int64)
    return image, StrongRecord(torch.tensor(flip), ops, cutout)


def replay(
    tensor: torch.Tensor, record: dict[str, torch.Tensor], scale: int, fill: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Carry per-pixel maps (N, C, h, w) at 1/``scale`` of the crop into the strong views' geometry.

    ``record`` is a collated ``StrongRecord.as_dict()`` batch. Nearest sampling, as ``label_strong_T``;
    positions that fall outside the crop or inside the cutout get ``fill`` and are ``False`` in the
    returned validity mask (N, h, w).
    """
    out, valid_maps = [], []
    size_hw = tuple(tensor.shape[-2:])
    for i in range(tensor.shape[0]):
        item = tensor[i]
        valid = torch.ones(size_hw, dtype=torch.bool, device=tensor.device)
        if bool(record["flip"][i]):
            item = item.flip(-1)
        for code, value in record["ops"][i].tolist():
            if int(code) == 0:
                continue
            matrix = inverse_matrix(int(code), value, size_hw, scale)
            item, inside = warp(item, matrix, "nearest")
            valid_warped, _ = warp(valid[None].float(), matrix, "nearest")
            valid = (valid_warped[0] > 0.5) & (inside > 0.5)
        x0, y0, x1, y1 = record["cutout"][i].tolist()
        if x0 >= 0:
            valid[y0 // scale : y1 // scale, x0 // scale : x1 // scale] = False
        out.append(torch.where(valid, item, torch.as_tensor(fill, dtype=item.dtype)))
        valid_maps.append(valid)
    return torch.stack(out), torch.stack(valid_maps)
