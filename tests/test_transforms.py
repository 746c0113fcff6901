"""Transforms: geometry keeps image and label aligned, photometric ops follow torchvision semantics,
normalisation round-trips, and every random choice comes from the generator passed in."""

from __future__ import annotations

import colorsys

import numpy as np
import pytest
import torch
from PIL import Image

from pipeline_lib.data.labels import IGNORE_INDEX
from pipeline_lib.data.transforms import (
    AugmentationConfig,
    EvalTransform,
    TrainAugmentation,
    adjust_hue,
    color_jitter,
    denormalize,
    gaussian_blur,
    mean_colour,
    normalize,
    random_crop,
    random_hflip,
    random_scale,
    resize,
)


def _generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture
def image() -> torch.Tensor:
    return torch.rand(3, 24, 40, generator=_generator(1)) * 255.0


@pytest.fixture
def label() -> torch.Tensor:
    return torch.randint(0, 19, (24, 40), generator=_generator(2))


def _coordinate_sample(height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """An image whose red channel encodes the pixel's label, so alignment is checkable after any warp."""
    label = torch.arange(height * width).view(height, width) % 19
    image = torch.stack((label.float() * 10.0, torch.zeros(height, width), torch.full((height, width), 7.0)))
    return image, label


# --- geometry --------------------------------------------------------------------------------------


def test_resize_takes_width_height_and_matches_pil() -> None:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (30, 50, 3), dtype=np.uint8)
    labels = rng.integers(0, 19, (30, 50), dtype=np.uint8)
    image = torch.from_numpy(pixels).permute(2, 0, 1).float()
    for size_wh in ((20, 12), (80, 45)):  # shrinking (antialiased) and enlarging
        out_image, out_label = resize(image, torch.from_numpy(labels.astype(np.int64)), size_wh)
        assert out_image.shape == (3, size_wh[1], size_wh[0])
        pil_image = np.asarray(Image.fromarray(pixels).resize(size_wh, Image.BILINEAR)).astype(np.float32)
        assert np.abs(out_image.permute(1, 2, 0).numpy() - pil_image).max() <= 1.0  # PIL rounds to uint8
        pil_label = np.asarray(Image.fromarray(labels).resize(size_wh, Image.NEAREST))
        np.testing.assert_array_equal(out_label.numpy(), pil_label)


def test_random_scale_keeps_labels_in_the_original_set(image: torch.Tensor, label: torch.Tensor) -> None:
    sparse = torch.where(label < 10, torch.full_like(label, 3), torch.full_like(label, IGNORE_INDEX))
    for seed in range(5):
        out_image, out_label = random_scale(image, sparse, (0.5, 1.7), _generator(seed))
        assert out_label.dtype == torch.int64
        assert out_image.shape[-2:] == out_label.shape
        assert set(out_label.unique().tolist()) <= {3, IGNORE_INDEX}


def test_random_scale_size_follows_factor(image: torch.Tensor, label: torch.Tensor) -> None:
    out_image, out_label = random_scale(image, label, (2.0, 2.0), _generator())
    assert out_image.shape == (3, 48, 80)
    assert out_label.shape == (48, 80)


def test_random_crop_shape_when_large_enough(image: torch.Tensor, label: torch.Tensor) -> None:
    out_image, out_label = random_crop(image, label, (16, 20), _generator())
    assert out_image.shape == (3, 16, 20)
    assert out_label.shape == (16, 20)
    assert (out_label != IGNORE_INDEX).all()


def test_random_crop_pads_label_with_ignore_and_image_with_mean(image: torch.Tensor, label: torch.Tensor) -> None:
    out_image, out_label = random_crop(image, label, (40, 50), _generator())
    assert out_image.shape == (3, 40, 50)
    padded = out_label == IGNORE_INDEX
    assert int(padded.sum()) == 40 * 50 - 24 * 40  # exactly the area outside the image
    pad_pixels = out_image[:, padded]
    torch.testing.assert_close(pad_pixels, mean_colour("imagenet").view(3, 1).expand_as(pad_pixels))
    assert normalize(out_image, "imagenet")[:, padded].abs().max() < 1e-5


def test_random_crop_keeps_image_and_label_aligned() -> None:
    image, label = _coordinate_sample(20, 30)
    for seed in range(10):
        out_image, out_label = random_crop(image, label, (25, 17), _generator(seed))
        inside = out_label != IGNORE_INDEX
        torch.testing.assert_close(out_image[0][inside], out_label[inside].float() * 10.0)


def test_hflip_flips_image_and_label_together() -> None:
    image, label = _coordinate_sample(6, 9)
    out_image, out_label = random_hflip(image, label, 1.0, _generator())
    torch.testing.assert_close(out_label, label.flip(-1))
    torch.testing.assert_close(out_image, image.flip(-1))
    same_image, same_label = random_hflip(image, label, 0.0, _generator())
    assert same_image is image and same_label is label


def test_geometry_accepts_missing_label(image: torch.Tensor) -> None:
    out_image, out_label = random_crop(image, None, (30, 30), _generator())
    assert out_label is None and out_image.shape == (3, 30, 30)
    assert random_hflip(image, None, 1.0, _generator())[1] is None


# --- photometric ---------------------------------------------------------------------------------


def test_color_jitter_with_zero_strength_is_identity(image: torch.Tensor) -> None:
    torch.testing.assert_close(color_jitter(image, 0.0, 0.0, 0.0, 0.0, _generator()), image)


def test_brightness_only_scales(image: torch.Tensor) -> None:
    dim = image * 0.5  # no clamping at the top for factors <= 2
    out = color_jitter(dim, 0.8, 0.0, 0.0, 0.0, _generator(3))
    ratio = out / dim
    factor = ratio.mean()
    assert 0.2 <= factor <= 1.8
    torch.testing.assert_close(ratio, torch.full_like(ratio, float(factor)))


def test_contrast_and_saturation_keep_grey_images() -> None:
    grey = torch.full((3, 4, 4), 100.0)
    out = color_jitter(grey, 0.0, 0.9, 0.9, 0.0, _generator())
    # torchvision's luma weights sum to 0.9999, so grey moves by at most 0.01 %.
    torch.testing.assert_close(out, grey, atol=0.02, rtol=0)


def test_hue_shift_zero_is_identity_and_matches_colorsys(image: torch.Tensor) -> None:
    assert adjust_hue(image, 0.0) is image
    assert (adjust_hue(adjust_hue(image, 0.1), -0.1) - image).abs().max() < 1e-2
    shifted = adjust_hue(image, 0.25)
    for row, col in ((0, 0), (5, 7), (23, 39)):
        hue, sat, val = colorsys.rgb_to_hsv(*(image[:, row, col] / 255.0).tolist())
        expected = torch.tensor(colorsys.hsv_to_rgb((hue + 0.25) % 1.0, sat, val)) * 255.0
        torch.testing.assert_close(shifted[:, row, col], expected, atol=1e-2, rtol=0)


def test_color_jitter_stays_in_range(image: torch.Tensor) -> None:
    out = color_jitter(image, 0.5, 0.5, 0.5, 0.5, _generator())
    assert out.min() >= 0.0 and out.max() <= 255.0


def test_gaussian_blur_preserves_constant_and_mean() -> None:
    flat = torch.full((3, 9, 11), 42.0)
    torch.testing.assert_close(gaussian_blur(flat, 1.5), flat)
    impulse = torch.zeros(3, 21, 21)
    impulse[:, 10, 10] = 1.0
    blurred = gaussian_blur(impulse, 1.0)
    torch.testing.assert_close(blurred.sum(dim=(1, 2)), torch.ones(3))
    torch.testing.assert_close(blurred[0], blurred[0].T)  # isotropic
    assert blurred[0, 10, 10] < 0.2


# --- normalisation ------------------------------------------------------------------------------


@pytest.mark.parametrize("convention", ["imagenet", "caffe_bgr"])
def test_normalize_round_trip(image: torch.Tensor, convention: str) -> None:
    torch.testing.assert_close(denormalize(normalize(image, convention), convention), image, atol=1e-3, rtol=0)
    assert normalize(mean_colour(convention), convention).abs().max() < 1e-5


def test_caffe_bgr_flips_channels_and_subtracts_mean() -> None:
    pixel = torch.tensor([200.0, 100.0, 50.0]).view(3, 1, 1)  # R, G, B
    out = normalize(pixel, "caffe_bgr").flatten()
    expected = torch.tensor([50.0 - 104.00698793, 100.0 - 116.66876762, 200.0 - 122.67891434])
    torch.testing.assert_close(out, expected)


def test_imagenet_values() -> None:
    pixel = torch.tensor([255.0, 0.0, 127.5]).view(3, 1, 1)
    expected = torch.tensor([(1 - 0.485) / 0.229, (0 - 0.456) / 0.224, (0.5 - 0.406) / 0.225])
    torch.testing.assert_close(normalize(pixel, "imagenet").flatten(), expected)


def test_unknown_convention_is_an_error(image: torch.Tensor) -> None:
    with pytest.raises(ValueError, match="convention"):
        normalize(image, "rgb")


# --- pipelines ------------------------------------------------------------------------------------

_FULL = AugmentationConfig(
    resize=(48, 30), scale=(0.75, 1.25), crop=(32, 40), hflip=0.5, color_jitter=0.5, blur_prob=0.5
)


def test_train_augmentation_is_deterministic_per_generator_seed(image: torch.Tensor, label: torch.Tensor) -> None:
    augment = TrainAugmentation(_FULL)
    first = augment(image, label, _generator(7))
    again = augment(image, label, _generator(7))
    other = augment(image, label, _generator(8))
    torch.testing.assert_close(first, again)
    assert not torch.equal(first[0], other[0])


def test_train_augmentation_shapes_and_padding_stays_mean(image: torch.Tensor, label: torch.Tensor) -> None:
    augment = TrainAugmentation(AugmentationConfig(scale=(0.5, 0.6), crop=(32, 40), color_jitter=0.9, blur_prob=1.0))
    for seed in range(5):
        out_image, out_label = augment(image, label, _generator(seed))
        assert out_image.shape == (3, 32, 40) and out_label.shape == (32, 40)
        padded = out_label == IGNORE_INDEX  # the source label has no ignore pixels
        assert padded.any()
        assert normalize(out_image, "imagenet")[:, padded].abs().max() < 1e-4


def test_train_augmentation_keeps_alignment_without_photometric() -> None:
    image, label = _coordinate_sample(20, 30)
    augment = TrainAugmentation(AugmentationConfig(crop=(24, 24), hflip=0.5))
    for seed in range(10):
        out_image, out_label = augment(image, label, _generator(seed))
        inside = out_label != IGNORE_INDEX
        assert int(inside.sum()) == 20 * 24  # height padded, width cropped
        torch.testing.assert_close(out_image[0][inside], out_label[inside].float() * 10.0)


def test_augmentation_config_accepts_lists_and_rejects_bad_values() -> None:
    config = AugmentationConfig(resize=[64, 32], scale=[0.5, 2.0], crop=[16, 16])
    assert config.resize == (64, 32) and config.scale == (0.5, 2.0) and config.crop == (16, 16)
    with pytest.raises(ValueError, match="scale"):
        AugmentationConfig(scale=(2.0, 1.0))
    with pytest.raises(ValueError, match="hflip"):
        AugmentationConfig(hflip=1.5)


def test_eval_transform_resizes_image_only(image: torch.Tensor, label: torch.Tensor) -> None:
    out_image, out_label = EvalTransform(resize=(20, 12))(image, label)
    assert out_image.shape == (3, 12, 20)
    assert out_label is label
