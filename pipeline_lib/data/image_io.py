"""Reading and writing the image and label files of the three datasets, with errors that name the file.

Format pitfalls handled here (``shared/spec/datasets_eval.md`` §2.2, §3.2):
- GTA5 labels are palette PNGs whose *indices* are label IDs: read them with PIL and never convert.
- SYNTHIA labels are 16-bit 3-channel PNGs with the class ID in the red channel: PIL silently keeps
  only the high byte, so they are read with OpenCV and their dtype is checked.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from pipeline_lib.atomic import atomic_path
from pipeline_lib.data.labels import IGNORE_INDEX, TRAIN_CLASSES


class ImageReadError(ValueError):
    """An image or label file that cannot be decoded or has the wrong format."""


def _open(path: Path) -> Image.Image:
    try:
        image = Image.open(path)
        image.load()
    except FileNotFoundError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise ImageReadError(f"{path}: cannot read image ({err})") from err
    return image


def read_rgb(path: str | os.PathLike[str]) -> np.ndarray:
    """H×W×3 uint8 RGB."""
    return np.array(_open(Path(path)).convert("RGB"))  # writable, so torch.from_numpy needs no copy warning


def read_image_size(path: str | os.PathLike[str]) -> tuple[int, int]:
    """(width, height) from the header alone, for cheap size checks over whole datasets."""
    path = Path(path)
    try:
        with Image.open(path) as image:
            return image.size
    except FileNotFoundError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise ImageReadError(f"{path}: cannot read image ({err})") from err


def read_index_label(path: str | os.PathLike[str]) -> np.ndarray:
    """H×W uint8 label IDs from an 8-bit single-channel or palette PNG (GTA5, Cityscapes labelIds)."""
    path = Path(path)
    image = _open(path)
    if image.mode not in ("P", "L"):
        raise ImageReadError(f"{path}: expected an 8-bit palette or greyscale label PNG, got mode {image.mode}")
    return np.array(image)


def read_train_id_label(path: str | os.PathLike[str]) -> np.ndarray:
    """H×W uint8 train IDs of a converted label or pseudo-label: 0..18, or 255 for ignore.

    Any other value would crash the loss with an index error that names no file, or drop out of
    the confusion matrix unnoticed, so it is refused here with the file's name.
    """
    label = read_index_label(path)
    invalid = (label >= len(TRAIN_CLASSES)) & (label != IGNORE_INDEX)
    if invalid.any():
        values = np.unique(label[invalid])
        raise ImageReadError(
            f"{path}: values {values[:10].tolist()} are not train IDs (0..{len(TRAIN_CLASSES) - 1} or "
            f"{IGNORE_INDEX} for ignore); converted labels come from rule convert_labels"
        )
    return label


def read_synthia_label(path: str | os.PathLike[str]) -> np.ndarray:
    """H×W uint16 SYNTHIA class IDs from the red channel of a 16-bit 3-channel GT/LABELS PNG."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(path)
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise ImageReadError(f"{path}: cannot read image (OpenCV could not decode it)")
    if raw.dtype != np.uint16 or raw.ndim != 3 or raw.shape[2] < 3:
        raise ImageReadError(
            f"{path}: expected a 16-bit 3-channel SYNTHIA label PNG, got dtype {raw.dtype} with shape {raw.shape}"
        )
    return raw[:, :, 2]  # OpenCV returns BGR: index 2 is the red channel


def write_rgb(path: str | os.PathLike[str], image: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8), mode="RGB").save(tmp)


def write_label(path: str | os.PathLike[str], label: np.ndarray, palette: np.ndarray | None = None) -> None:
    """8-bit label PNG; with ``palette`` (N×3) it is a palette PNG as GTA5 ships them."""
    image = Image.fromarray(np.ascontiguousarray(label, dtype=np.uint8))
    if palette is not None:
        flat = np.zeros((256, 3), dtype=np.uint8)
        flat[: len(palette)] = palette
        image.putpalette(flat.tobytes())  # an "L" image becomes "P" with its values as indices
    with atomic_path(path) as tmp:
        image.save(tmp)


def write_uint16_rgb(path: str | os.PathLike[str], channels: np.ndarray) -> None:
    """16-bit 3-channel PNG from an H×W×3 uint16 array in RGB order (SYNTHIA GT/LABELS)."""
    if channels.dtype != np.uint16 or channels.ndim != 3 or channels.shape[2] != 3:
        raise ValueError(f"{path}: expected H×W×3 uint16, got {channels.dtype} {channels.shape}")
    with atomic_path(path) as tmp:
        if not cv2.imwrite(str(tmp), np.ascontiguousarray(channels[:, :, ::-1])):
            raise OSError(f"{path}: OpenCV could not write the PNG")


def write_uint16(path: str | os.PathLike[str], values: np.ndarray) -> None:
    """Single-channel 16-bit PNG (Cityscapes instanceIds)."""
    with atomic_path(path) as tmp:
        Image.fromarray(np.ascontiguousarray(values, dtype=np.uint16)).save(tmp)
