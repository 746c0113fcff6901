"""Label conversion: raw GTA5 / SYNTHIA / Cityscapes labels -> 19-class train-ID PNGs plus a file list.

Every pair is checked before it is used (``shared/spec/datasets_eval.md`` §2.3, §6): unreadable files
and label values outside the official table are errors naming the file; GTA5's known defects
(image/label size mismatches such as frames 20801-20860, blank frames 15188 and 17705) are handled by
a named policy and listed in the conversion report rather than silently resized or cropped.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from PIL import Image

from pipeline_lib.atomic import atomic_path, write_json
from pipeline_lib.data.image_io import (
    read_image_size,
    read_index_label,
    read_rgb,
    read_synthia_label,
    write_label,
)
from pipeline_lib.data.labels import cityscapes_to_train_id_lut, synthia_to_train_id_lut

log = logging.getLogger(__name__)

Dataset = Literal["gta5", "synthia", "cityscapes"]
SizeMismatchPolicy = Literal["skip", "error", "resize_label"]
GTA5_FRAME_COUNT = 24966


class LabelConversionError(ValueError):
    """A dataset file that cannot be converted; the message names the file."""


@dataclass(frozen=True)
class Sample:
    name: str
    image: Path
    label: Path | None


@dataclass
class ConversionReport:
    dataset: str
    split: str
    converted: int = 0
    skipped: list[dict] = field(default_factory=list)
    expected_total: int | None = None

    def as_dict(self) -> dict:
        return {
            "dataset": self.dataset,
            "split": self.split,
            "converted": self.converted,
            "skipped_count": len(self.skipped),
            "skipped": self.skipped,
            "expected_total": self.expected_total,
        }


def _require_dir(path: Path, what: str) -> None:
    if not path.is_dir():
        raise FileNotFoundError(f"{what} not found: {path}")


def list_gta5(root: Path) -> list[Sample]:
    """``images/NNNNN.png`` paired with ``labels/NNNNN.png``; a frame without a label keeps ``label=None``."""
    _require_dir(root / "images", "GTA5 images folder")
    _require_dir(root / "labels", "GTA5 labels folder")
    return [
        Sample(p.stem, p, (root / "labels" / p.name) if (root / "labels" / p.name).exists() else None)
        for p in sorted((root / "images").glob("*.png"))
    ]


def list_synthia(root: Path) -> list[Sample]:
    """``RGB/NNNNNNN.png`` paired with the 16-bit ``GT/LABELS/NNNNNNN.png``."""
    _require_dir(root / "RGB", "SYNTHIA RGB folder")
    _require_dir(root / "GT" / "LABELS", "SYNTHIA GT/LABELS folder")
    labels = root / "GT" / "LABELS"
    return [
        Sample(p.stem, p, (labels / p.name) if (labels / p.name).exists() else None)
        for p in sorted((root / "RGB").glob("*.png"))
    ]


def list_cityscapes(root: Path, split: str) -> list[Sample]:
    """``leftImg8bit/<split>/<city>/*_leftImg8bit.png`` paired with ``gtFine/.../*_gtFine_labelIds.png``."""
    images = root / "leftImg8bit" / split
    _require_dir(images, f"Cityscapes leftImg8bit/{split} folder")
    samples = []
    for image in sorted(images.glob("*/*_leftImg8bit.png")):
        stem = image.name[: -len("_leftImg8bit.png")]
        label = root / "gtFine" / split / image.parent.name / f"{stem}_gtFine_labelIds.png"
        samples.append(Sample(stem, image, label if label.exists() else None))
    return samples


def _read_raw_label(dataset: Dataset, path: Path) -> np.ndarray:
    return read_synthia_label(path) if dataset == "synthia" else read_index_label(path)


def _to_train_ids(raw: np.ndarray, lut: np.ndarray, path: Path) -> np.ndarray:
    mapped = lut[raw]
    if (mapped < 0).any():
        bad = np.unique(raw[mapped < 0])
        raise LabelConversionError(f"{path}: label values {bad[:10].tolist()} are not in the dataset's label table")
    return mapped.astype(np.uint8)


def _nearest_resize(label: np.ndarray, size_wh: tuple[int, int]) -> np.ndarray:
    return np.asarray(Image.fromarray(label).resize(size_wh, Image.NEAREST))


def _convert_one(
    dataset: Dataset, sample: Sample, out_dir: Path, lut: np.ndarray, size_mismatch: SizeMismatchPolicy
) -> tuple[dict | None, str | None]:
    """Convert one pair; returns (file-list row, None) or (None, reason it was skipped)."""
    try:
        width, height = read_image_size(sample.image)
    except FileNotFoundError as err:
        raise LabelConversionError(f"{sample.image}: image file disappeared") from err
    if sample.label is None:
        return {"name": sample.name, "image": str(sample.image), "label": ""}, None
    raw = _read_raw_label(dataset, sample.label)
    if raw.shape != (height, width):
        message = f"label {raw.shape[1]}x{raw.shape[0]} vs image {width}x{height}"
        if size_mismatch == "error":
            raise LabelConversionError(f"{sample.label}: size mismatch with {sample.image} ({message})")
        if size_mismatch == "skip":
            return None, f"size mismatch: {message}"
        raw = _nearest_resize(raw, (width, height))
    if dataset == "gta5":
        pixels = read_rgb(sample.image)
        if pixels.min() == pixels.max():
            return None, "blank image (a single colour)"
    out = out_dir / f"{sample.name}.png"
    write_label(out, _to_train_ids(raw, lut, sample.label))
    return {"name": sample.name, "image": str(sample.image), "label": str(out)}, None


def convert_labels(
    dataset: Dataset,
    samples: list[Sample],
    out_dir: Path,
    list_path: Path,
    *,
    split: str,
    size_mismatch: SizeMismatchPolicy = "skip",
    require_labels: bool = True,
    threads: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> ConversionReport:
    """Write train-ID label PNGs to ``out_dir`` and the ``name,image,label`` CSV file list to ``list_path``.

    Source datasets need labels for every frame: a frame without one is skipped and reported. The
    target train split may be unlabelled (``require_labels=False``).
    """
    if not samples:
        raise LabelConversionError(f"no {dataset} images found for split '{split}'")
    lut = synthia_to_train_id_lut() if dataset == "synthia" else cityscapes_to_train_id_lut()
    out_dir.mkdir(parents=True, exist_ok=True)
    report = ConversionReport(dataset, split, expected_total=GTA5_FRAME_COUNT if dataset == "gta5" else None)
    rows: list[dict] = []
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        results: Iterable = pool.map(lambda s: _convert_one(dataset, s, out_dir, lut, size_mismatch), samples)
        for done, (sample, (row, reason)) in enumerate(zip(samples, results, strict=True), start=1):
            if row is not None and require_labels and not row["label"]:
                row, reason = None, "no label file"
            if row is None:
                report.skipped.append({"name": sample.name, "image": str(sample.image), "reason": reason})
                log.warning("skipped %s: %s", sample.image, reason)
            else:
                rows.append(row)
            if progress is not None:
                progress(done, len(samples))
    report.converted = len(rows)
    if not rows:
        raise LabelConversionError(f"every {dataset} '{split}' frame was skipped; see the report {list_path}")
    with atomic_path(list_path) as tmp:
        pd.DataFrame(rows, columns=["name", "image", "label"]).to_csv(tmp, index=False)
    return report


def list_samples(dataset: Dataset, root: Path, split: str) -> list[Sample]:
    if dataset == "gta5":
        return list_gta5(root)
    if dataset == "synthia":
        return list_synthia(root)
    return list_cityscapes(root, split)


def write_report(path: str | os.PathLike[str], report: ConversionReport) -> None:
    write_json(path, report.as_dict())
