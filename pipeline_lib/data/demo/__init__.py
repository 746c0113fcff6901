"""A small synthetic GTA5 / SYNTHIA / Cityscapes in the real on-disk layouts, so the workflow runs on a CPU laptop.

The real datasets are ~70 GB behind registrations; the demo writes street scenes with exactly the file names,
folder layouts and label encodings of ``shared/spec/datasets_eval.md`` §1-§3 (GTA5 palette PNGs of Cityscapes
label IDs, SYNTHIA 16-bit PNGs with the class in the red channel, Cityscapes ``labelIds``/``instanceIds``), so
the same conversion code reads the demo and the real data.

Every image is drawn from one world model: a pinhole camera looking down a street (road trapezoid towards a
vanishing point, sidewalks, facades, poles with lights and signs, vehicles, pedestrians, riders...), so object
size follows depth. Source and target differ the way the real domains do, which is what adaptation methods
must overcome:

- appearance: per-domain colour palettes (one consistent, moderate colour transform plus a few per-class
  offsets), textures (window grids, facade stripes, fence lattices), lighting, sensor noise and blur;
- content: class frequencies (GTA5 has more cars and trucks, Cityscapes more people and vegetation, SYNTHIA
  no terrain/truck/train but lane markings and road works) and camera rigs (SYNTHIA's random elevated views,
  Cityscapes' fixed car-mounted camera with the ego vehicle's hood);
- image size.

Colour alone is ambiguous on purpose (building/wall/fence are similar greys, vehicles share paints, persons and
riders share clothes), so a model must use shape and context, and transfer is partial rather than trivial.

Each image comes from its own generator seeded by ``(seed, domain, index)``: a set is byte-identical for a seed
and independent of the order or number of other images generated.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline_lib.atomic import write_json
from pipeline_lib.data.demo.codes import Code, cityscapes_label_lut, cityscapes_palette, synthia_label_lut
from pipeline_lib.data.demo.domains import CITYSCAPES, GTA5, SYNTHIA
from pipeline_lib.data.demo.frame import Frame, frame_rng, generate_frame
from pipeline_lib.data.image_io import write_label, write_rgb, write_uint16, write_uint16_rgb
from pipeline_lib.data.labels import CITYSCAPES_LABELS, SYNTHIA_CLASSES

MANIFEST_NAME = "manifest.json"
CITYSCAPES_FRAME = 19  # the annotated frame of every real Cityscapes snippet is _000019
TRAIN_CITIES = ("aachen", "bochum", "bremen")
VAL_CITIES = ("frankfurt", "lindau", "munster")


@dataclass(frozen=True)
class DemoSpec:
    """How much to generate. Sizes are (width, height), the real resolutions scaled down."""

    seed: int = 0
    gta5_count: int = 48
    synthia_count: int = 48
    cityscapes_train_count: int = 32
    cityscapes_val_count: int = 16
    gta5_size: tuple[int, int] = (240, 132)  # 1914×1052 / 8
    synthia_size: tuple[int, int] = (256, 152)  # 1280×760 / 5
    cityscapes_size: tuple[int, int] = (256, 128)  # 2048×1024 / 8

    def __post_init__(self) -> None:
        """Accept sizes given as lists (YAML config) and reject values that cannot make an image set."""
        for name in ("gta5_size", "synthia_size", "cityscapes_size"):
            width, height = (int(v) for v in getattr(self, name))
            if width < 16 or height < 16:
                raise ValueError(f"DemoSpec.{name} must be at least 16×16 pixels, got {width}×{height}")
            object.__setattr__(self, name, (width, height))
        for name in ("gta5_count", "synthia_count", "cityscapes_train_count", "cityscapes_val_count"):
            if getattr(self, name) < 0:
                raise ValueError(f"DemoSpec.{name} must not be negative, got {getattr(self, name)}")


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


def synthia_channels(frame: Frame, first_instance_id: int) -> np.ndarray:
    """GT/LABELS content: R = SYNTHIA class, G = instance ID; IDs start near 255 so that reading needs 16 bits."""
    classes = synthia_label_lut()[frame.codes]
    instances = np.where(frame.instances > 0, frame.instances + first_instance_id - 1, 0).astype(np.uint16)
    return np.dstack([classes, instances, np.zeros_like(classes)])


def cityscapes_stem(city: str, sequence: int) -> str:
    return f"{city}_{sequence:06d}_{CITYSCAPES_FRAME:06d}"


def _write_gta5(root: Path, spec: DemoSpec) -> np.ndarray:
    palette = cityscapes_palette()
    counts = np.zeros(256, dtype=np.int64)
    for index in range(spec.gta5_count):
        frame = generate_frame(GTA5, spec.gta5_size, spec.seed, "gta5", index)
        labels = cityscapes_label_lut()[frame.codes]
        write_rgb(root / "images" / f"{index + 1:05d}.png", frame.image)
        write_label(root / "labels" / f"{index + 1:05d}.png", labels, palette=palette)
        counts += np.bincount(labels.ravel(), minlength=256)
    return counts


def _write_synthia(root: Path, spec: DemoSpec) -> np.ndarray:
    counts = np.zeros(65536, dtype=np.int64)
    for index in range(spec.synthia_count):
        frame = generate_frame(SYNTHIA, spec.synthia_size, spec.seed, "synthia", index)
        first_instance_id = int(frame_rng(spec.seed, "synthia", index).integers(200, 300))
        channels = synthia_channels(frame, first_instance_id)
        write_rgb(root / "RGB" / f"{index:07d}.png", frame.image)
        write_uint16_rgb(root / "GT" / "LABELS" / f"{index:07d}.png", channels)
        counts += np.bincount(channels[..., 0].ravel(), minlength=65536)
    return counts


def _write_cityscapes_split(root: Path, spec: DemoSpec, split: str) -> np.ndarray:
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


def pixel_shares(counts: np.ndarray, names: dict[int, str]) -> dict[str, float]:
    total = max(int(counts.sum()), 1)
    return {name: round(float(counts[i]) / total, 6) for i, name in sorted(names.items())}


def generate_demo(root: Path, spec: DemoSpec) -> dict:
    """Write the three demo datasets under ``root`` and, last, ``manifest.json`` (the completion marker).

    A stale manifest is removed first, so an interrupted run never looks finished. Returns the manifest.
    """
    root = Path(root)
    (root / MANIFEST_NAME).unlink(missing_ok=True)
    cityscapes_names = {lab.id: lab.name for lab in CITYSCAPES_LABELS if lab.id >= 0}
    synthia_names = {c.id: c.name for c in SYNTHIA_CLASSES}
    shares = {
        "gta5": pixel_shares(_write_gta5(root / "gta5", spec), cityscapes_names),
        "synthia": pixel_shares(_write_synthia(root / "synthia", spec), synthia_names),
        "cityscapes_train": pixel_shares(_write_cityscapes_split(root / "cityscapes", spec, "train"), cityscapes_names),
        "cityscapes_val": pixel_shares(_write_cityscapes_split(root / "cityscapes", spec, "val"), cityscapes_names),
    }
    manifest = {
        "generator": __name__,
        "seed": spec.seed,
        "counts": {
            "gta5": spec.gta5_count,
            "synthia": spec.synthia_count,
            "cityscapes_train": spec.cityscapes_train_count,
            "cityscapes_val": spec.cityscapes_val_count,
        },
        "sizes": {
            "gta5": list(spec.gta5_size),
            "synthia": list(spec.synthia_size),
            "cityscapes": list(spec.cityscapes_size),
        },
        "roots": {"gta5": "gta5", "synthia": "synthia", "cityscapes": "cityscapes"},
        "class_pixel_shares": shares,
    }
    write_json(root / MANIFEST_NAME, manifest)
    return manifest
