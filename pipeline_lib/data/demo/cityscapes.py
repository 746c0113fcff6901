"""The Cityscapes layout: ``leftImg8bit/`` images and ``gtFine/`` ``labelIds``/``instanceIds`` per split and city."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline_lib.data.demo.codes import Code, cityscapes_label_lut
from pipeline_lib.data.demo.domains import CITYSCAPES
from pipeline_lib.data.demo.frame import Frame, generate_frame
from pipeline_lib.data.demo.spec import DemoSpec
from pipeline_lib.data.image_io import write_label, write_rgb, write_uint16

CITYSCAPES_FRAME = 19  # the annotated frame of every real Cityscapes snippet is _000019
TRAIN_CITIES = ("aachen", "bochum", "bremen")
VAL_CITIES = ("frankfurt", "lindau", "munster")


def cityscapes_label_ids(frame: Frame) -> np.ndarray:
    """labelIds with a thin 'out of roi' frame on the top and sides, as around real rectified images."""
    labels = cityscapes_label_lut()[frame.codes]
    border = max(1, labels.shape[0] // 128)
    labels[:border] = Code.OUT_OF_ROI
    labels[:, :border] = Code.OUT_OF_ROI
    labels[:, -border:] = Code.OUT_OF_ROI
    return labels


def cityscapes_instance_ids(frame: Frame, label_ids: np.ndarray) -> np.ndarray:
    """instanceIds: id*1000+k for objects of instance classes (k counts per class), the plain id elsewhere."""
    per_class: dict[Code, int] = {}
    encoded = np.zeros(len(frame.instance_codes) + 1, dtype=np.int64)
    for number, code in enumerate(frame.instance_codes, start=1):
        encoded[number] = code * 1000 + per_class.get(code, 0)
        per_class[code] = per_class.get(code, 0) + 1
    is_object = (frame.instances > 0) & (label_ids == frame.codes)
    return np.where(is_object, encoded[frame.instances], label_ids).astype(np.uint16)


def cityscapes_stem(city: str, sequence: int) -> str:
    return f"{city}_{sequence:06d}_{CITYSCAPES_FRAME:06d}"


def write_cityscapes_split(root: Path, spec: DemoSpec, split: str) -> np.ndarray:
    """Write the Cityscapes ``split`` (train or val) under ``root``; returns the pixel count of every label ID."""
    count, cities = (
        (spec.cityscapes_train_count, TRAIN_CITIES) if split == "train" else (spec.cityscapes_val_count, VAL_CITIES)
    )
    counts = np.zeros(256, dtype=np.int64)
    for index in range(count):
        frame = generate_frame(CITYSCAPES, spec.cityscapes_size, spec.seed, f"cityscapes_{split}", index)
        city = cities[index % len(cities)]
        stem = cityscapes_stem(city, index // len(cities))
        label_ids = cityscapes_label_ids(frame)
        write_rgb(root / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png", frame.image)
        write_label(root / "gtFine" / split / city / f"{stem}_gtFine_labelIds.png", label_ids)
        write_uint16(
            root / "gtFine" / split / city / f"{stem}_gtFine_instanceIds.png", cityscapes_instance_ids(frame, label_ids)
        )
        counts += np.bincount(label_ids.ravel(), minlength=256)
    return counts
