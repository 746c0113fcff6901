"""The entry point: write the demo datasets, then the manifest that marks them complete."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline_lib.atomic import write_json
from pipeline_lib.data.demo.acdc import write_acdc_split
from pipeline_lib.data.demo.cityscapes import write_cityscapes_split
from pipeline_lib.data.demo.gta5 import write_gta5
from pipeline_lib.data.demo.spec import DemoSpec
from pipeline_lib.data.demo.synthia import write_synthia
from pipeline_lib.data.labels import CITYSCAPES_LABELS, SYNTHIA_CLASSES

MANIFEST_NAME = "manifest.json"


def pixel_shares(counts: np.ndarray, names: dict[int, str]) -> dict[str, float]:
    total = max(int(counts.sum()), 1)
    return {name: round(float(counts[i]) / total, 6) for i, name in sorted(names.items())}


def generate_demo(root: Path, spec: DemoSpec) -> dict:
    """Write the demo datasets under ``root`` (GTA5, SYNTHIA, Cityscapes, and ACDC night when its counts are
    not 0) and, last, ``manifest.json`` (the completion marker).

    A stale manifest is removed first, so an interrupted run never looks finished. Returns the manifest.
    """
    root = Path(root)
    (root / MANIFEST_NAME).unlink(missing_ok=True)
    cityscapes_names = {lab.id: lab.name for lab in CITYSCAPES_LABELS if lab.id >= 0}
    synthia_names = {c.id: c.name for c in SYNTHIA_CLASSES}
    shares = {
        "gta5": pixel_shares(write_gta5(root / "gta5", spec), cityscapes_names),
        "synthia": pixel_shares(write_synthia(root / "synthia", spec), synthia_names),
        "cityscapes_train": pixel_shares(write_cityscapes_split(root / "cityscapes", spec, "train"), cityscapes_names),
        "cityscapes_val": pixel_shares(write_cityscapes_split(root / "cityscapes", spec, "val"), cityscapes_names),
    }
    roots = {"gta5": "gta5", "synthia": "synthia", "cityscapes": "cityscapes"}
    if spec.acdc_train_count or spec.acdc_val_count:  # written after the others: their bytes do not depend on it
        for split in ("train", "val"):
            shares[f"acdc_{split}"] = pixel_shares(write_acdc_split(root / "acdc", spec, split), cityscapes_names)
        roots["acdc"] = "acdc"
    manifest = {
        # The package, not this module: the name callers import the generator by.
        "generator": __package__,
        "seed": spec.seed,
        "counts": {
            "gta5": spec.gta5_count,
            "synthia": spec.synthia_count,
            "cityscapes_train": spec.cityscapes_train_count,
            "cityscapes_val": spec.cityscapes_val_count,
            "acdc_train": spec.acdc_train_count,
            "acdc_val": spec.acdc_val_count,
        },
        "sizes": {
            "gta5": list(spec.gta5_size),
            "synthia": list(spec.synthia_size),
            "cityscapes": list(spec.cityscapes_size),
            "acdc": list(spec.acdc_size),
        },
        "roots": roots,
        "class_pixel_shares": shares,
    }
    write_json(root / MANIFEST_NAME, manifest)
    return manifest
