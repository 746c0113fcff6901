"""The SYNTHIA-RAND-CITYSCAPES layout: ``RGB/`` images and 16-bit ``GT/LABELS/`` (class in R, instance in G)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline_lib.data.demo.codes import synthia_label_lut
from pipeline_lib.data.demo.domains import SYNTHIA
from pipeline_lib.data.demo.frame import Frame, frame_rng, generate_frame
from pipeline_lib.data.demo.spec import DemoSpec
from pipeline_lib.data.image_io import write_rgb, write_uint16_rgb


def synthia_channels(frame: Frame, first_instance_id: int) -> np.ndarray:
    """GT/LABELS content: R = SYNTHIA class, G = instance ID; IDs start near 255 so that reading needs 16 bits."""
    classes = synthia_label_lut()[frame.codes]
    instances = np.where(frame.instances > 0, frame.instances + first_instance_id - 1, 0).astype(np.uint16)
    return np.dstack([classes, instances, np.zeros_like(classes)])


def write_synthia(root: Path, spec: DemoSpec) -> np.ndarray:
    """Write the SYNTHIA frames under ``root``; returns the pixel count of every SYNTHIA class ID."""
    counts = np.zeros(65536, dtype=np.int64)
    for index in range(spec.synthia_count):
        frame = generate_frame(SYNTHIA, spec.synthia_size, spec.seed, "synthia", index)
        first_instance_id = int(frame_rng(spec.seed, "synthia", index).integers(200, 300))
        channels = synthia_channels(frame, first_instance_id)
        write_rgb(root / "RGB" / f"{index:07d}.png", frame.image)
        write_uint16_rgb(root / "GT" / "LABELS" / f"{index:07d}.png", channels)
        counts += np.bincount(channels[..., 0].ravel(), minlength=65536)
    return counts
