"""The ACDC layout (one condition, night): ``rgb_anon/night/<split>/<sequence>/`` images and ``gt/``
``labelTrainIds`` / ``labelIds`` per split, the demo's second target domain.

ACDC ships Cityscapes train IDs (``_gt_labelTrainIds.png``, 255 = ignore) beside Cityscapes label IDs
(``_gt_labelIds.png``); frames are ``<sequence>_frame_<number>_rgb_anon.png`` in GoPro sequence folders.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline_lib.data.demo.cityscapes import cityscapes_label_ids
from pipeline_lib.data.demo.domains import ACDC_NIGHT
from pipeline_lib.data.demo.frame import generate_frame
from pipeline_lib.data.demo.spec import DemoSpec
from pipeline_lib.data.image_io import write_label, write_rgb
from pipeline_lib.data.labels import cityscapes_to_train_id_lut

CONDITION = "night"
SEQUENCES = {"train": ("GOPR0351", "GOPR0355"), "val": ("GOPR0356",)}


def acdc_stem(sequence: str, number: int) -> str:
    return f"{sequence}_frame_{number:06d}"


def write_acdc_split(root: Path, spec: DemoSpec, split: str) -> np.ndarray:
    """Write ACDC night ``split`` (train or val) under ``root``; returns the pixel count of every label ID."""
    count = spec.acdc_train_count if split == "train" else spec.acdc_val_count
    to_train_ids = cityscapes_to_train_id_lut()
    counts = np.zeros(256, dtype=np.int64)
    for index in range(count):
        frame = generate_frame(ACDC_NIGHT, spec.acdc_size, spec.seed, f"acdc_{split}", index)
        sequence = SEQUENCES[split][index % len(SEQUENCES[split])]
        stem = acdc_stem(sequence, index)
        label_ids = cityscapes_label_ids(frame)
        folder = Path(CONDITION) / split / sequence
        write_rgb(root / "rgb_anon" / folder / f"{stem}_rgb_anon.png", frame.image)
        write_label(root / "gt" / folder / f"{stem}_gt_labelIds.png", label_ids)
        write_label(root / "gt" / folder / f"{stem}_gt_labelTrainIds.png", to_train_ids[label_ids].astype(np.uint8))
        counts += np.bincount(label_ids.ravel(), minlength=256)
    return counts
