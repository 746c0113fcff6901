"""The GTA5 layout: ``images/NNNNN.png`` and palette ``labels/NNNNN.png`` of Cityscapes label IDs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline_lib.data.demo.codes import cityscapes_label_lut, cityscapes_palette
from pipeline_lib.data.demo.domains import GTA5
from pipeline_lib.data.demo.frame import generate_frame
from pipeline_lib.data.demo.spec import DemoSpec
from pipeline_lib.data.image_io import write_label, write_rgb


def write_gta5(root: Path, spec: DemoSpec) -> np.ndarray:
    """Write the GTA5 frames under ``root``; returns the pixel count of every label ID."""
    palette = cityscapes_palette()
    counts = np.zeros(256, dtype=np.int64)
    for index in range(spec.gta5_count):
        frame = generate_frame(GTA5, spec.gta5_size, spec.seed, "gta5", index)
        labels = cityscapes_label_lut()[frame.codes]
        write_rgb(root / "images" / f"{index + 1:05d}.png", frame.image)
        write_label(root / "labels" / f"{index + 1:05d}.png", labels, palette=palette)
        counts += np.bincount(labels.ravel(), minlength=256)
    return counts
