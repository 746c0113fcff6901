"""Label conversion: raw labels of every dataset udaflow knows -> 19-class train-ID PNGs plus a file list.

Every pair is checked before it is used (``shared/spec/datasets_eval.md`` §2.3, §6): truncated or corrupt
images, unreadable labels and label values outside the official table are errors naming the file;
GTA5's known defects (image/label size mismatches such as frames 20801-20860, blank frames 15188 and
17705) are handled by a named policy and listed in the conversion report rather than silently resized
or cropped. Only GTA5 has such a policy: on every other dataset a size mismatch means a broken dataset.

``DATASET_FORMATS`` says, per dataset, how its frames are listed, how a raw label is read and which LUT maps
it to train IDs: GTA5, SYNTHIA and Cityscapes here, the extra targets (ACDC, Dark Zurich, BDD100K, IDD,
Mapillary Vistas, NTHU Cross-City and the user's own ``folder`` lists) in ``target_layouts.py`` and
``target_labels.py``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from pipeline_lib.atomic import atomic_path, write_json
from pipeline_lib.data.image_io import (
    ImageReadError,
    read_index_label,
    read_rgb,
    read_synthia_label,
    write_label,
)
from pipeline_lib.data.labels import cityscapes_to_train_id_lut, gta5_to_train_id_lut, synthia_to_train_id_lut
from pipeline_lib.data.samples import LabelConversionError, Sample, read_options, require_dir, require_samples
from pipeline_lib.data.target_labels import (
    crosscity_to_train_id_lut,
    idd_level3_to_train_id_lut,
    mapillary_to_train_id_lut,
    train_id_identity_lut,
)
from pipeline_lib.data.target_layouts import (
    list_acdc,
    list_bdd100k,
    list_crosscity,
    list_dark_zurich,
    list_folder,
    list_idd,
    list_mapillary,
)

log = logging.getLogger(__name__)

Dataset = Literal[
    "gta5", "synthia", "cityscapes", "acdc", "dark_zurich", "bdd100k", "idd", "mapillary", "crosscity", "folder"
]
SizeMismatchPolicy = Literal["skip", "error", "resize_label"]
GTA5_FRAME_COUNT = 24966
# Sources only train: a frame without a label is skipped and reported (partial downloads, odd GTA5 frames).
SOURCE_DATASETS: tuple[Dataset, ...] = ("gta5", "synthia")
EXAMPLES_IN_MESSAGE = 3


@dataclass
class ConversionReport:
    """What conversion left out (``skipped``) or changed (``resized``), so no frame is dropped or
    altered without a trace."""

    dataset: str
    split: str
    converted: int = 0
    skipped: list[dict] = field(default_factory=list)
    resized: list[dict] = field(default_factory=list)
    expected_total: int | None = None

    def skip(self, sample: Sample, reason: str) -> None:
        self.skipped.append({"name": sample.name, "image": str(sample.image), "reason": reason})
        log.warning("skipped %s: %s", sample.image, reason)

    def add_resized(self, entry: dict) -> None:
        self.resized.append(entry)
        log.warning(
            "resized label %s from %dx%d to its image's %dx%d (size_mismatch: resize_label)",
            entry["label"],
            *entry["label_size"],
            *entry["image_size"],
        )

    def as_dict(self) -> dict:
        return {
            "dataset": self.dataset,
            "split": self.split,
            "converted": self.converted,
            "skipped_count": len(self.skipped),
            "skipped": self.skipped,
            "resized_count": len(self.resized),
            "resized": self.resized,
            "expected_total": self.expected_total,
        }


@dataclass(frozen=True)
class _ImageCheck:
    size: tuple[int, int]  # (width, height)
    blank: bool  # a single colour (GTA5 15188, 17705); only GTA5 is checked


@dataclass(frozen=True)
class _Outcome:
    """One frame's result: a file-list ``row`` (label ``""`` when it has no label file) or a
    ``skip_reason``; ``resized`` is the report entry when ``resize_label`` changed its label."""

    row: dict | None = None
    skip_reason: str | None = None
    resized: dict | None = None


def list_gta5(root: Path) -> list[Sample]:
    """``images/NNNNN.png`` paired with ``labels/NNNNN.png``."""
    images, labels = root / "images", root / "labels"
    require_dir(images, "GTA5 images folder", "gta5")
    require_dir(labels, "GTA5 labels folder", "gta5")
    samples = [Sample(p.stem, p, labels / p.name) for p in sorted(images.glob("*.png"))]
    return require_samples(samples, images, "*.png", "gta5")


def list_synthia(root: Path) -> list[Sample]:
    """``RGB/NNNNNNN.png`` paired with the 16-bit ``GT/LABELS/NNNNNNN.png``."""
    images, labels = root / "RGB", root / "GT" / "LABELS"
    require_dir(images, "SYNTHIA RGB folder", "synthia")
    require_dir(labels, "SYNTHIA GT/LABELS folder", "synthia")
    samples = [Sample(p.stem, p, labels / p.name) for p in sorted(images.glob("*.png"))]
    return require_samples(samples, images, "*.png", "synthia")


def list_cityscapes(root: Path, split: str) -> list[Sample]:
    """``leftImg8bit/<split>/<city>/*_leftImg8bit.png`` paired with ``gtFine/.../*_gtFine_labelIds.png``."""
    images = root / "leftImg8bit" / split
    require_dir(images, f"Cityscapes leftImg8bit/{split} folder", "cityscapes")
    pattern = "*/*_leftImg8bit.png"
    samples = []
    for image in sorted(images.glob(pattern)):
        stem = image.name[: -len("_leftImg8bit.png")]
        label = root / "gtFine" / split / image.parent.name / f"{stem}_gtFine_labelIds.png"
        samples.append(Sample(stem, image, label))
    return require_samples(samples, images, pattern, "cityscapes")


def _check_image(dataset: Dataset, path: Path) -> _ImageCheck:
    """Size (and for GTA5 blankness) of an image proven complete, so that a truncated or corrupt file
    stops conversion with its name instead of failing training hours later.

    GTA5 images are decoded anyway for the blank-frame check, which proves them complete. Other PNGs are
    only verified: PIL's ``verify()`` checks the CRC of each PNG chunk up to IEND without decoding pixels
    (1-3 ms for a 2048×1024 PNG against 30-40 ms for a decode). ``verify()`` checks nothing of a JPEG
    (BDD100K, Mapillary, Cross-City) or any other format, so those are decoded: a truncated file fails.
    JPEG has no checksum, so a flipped byte inside its entropy-coded data can still decode to wrong pixels.
    """
    try:
        if dataset == "gta5":
            pixels = read_rgb(path)
            return _ImageCheck((pixels.shape[1], pixels.shape[0]), blank=bool(pixels.min() == pixels.max()))
        with Image.open(path) as image:
            size = image.size
            if image.format == "PNG":
                image.verify()
            else:
                image.load()
        return _ImageCheck(size, blank=False)
    except FileNotFoundError as err:
        raise LabelConversionError(f"{path}: image file disappeared") from err
    except ImageReadError as err:
        raise LabelConversionError(str(err)) from err
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise LabelConversionError(f"{path}: cannot read image, truncated or corrupt ({err})") from err


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
) -> _Outcome:
    """Convert one pair; a frame without a label file gets an empty label, for the caller to judge."""
    image = _check_image(dataset, sample.image)
    if image.blank:
        return _Outcome(skip_reason="blank image (a single colour)")
    row = {"name": sample.name, "image": str(sample.image), "label": ""}
    if sample.label is None or not sample.label.is_file():
        return _Outcome(row=row)
    raw = DATASET_FORMATS[dataset].read_label(sample.label)
    label_size = (raw.shape[1], raw.shape[0])
    resized = None
    if label_size != image.size:
        message = f"label {label_size[0]}x{label_size[1]} vs image {image.size[0]}x{image.size[1]}"
        if size_mismatch == "error":
            raise LabelConversionError(f"{sample.label}: size mismatch with {sample.image} ({message})")
        if size_mismatch == "skip":
            return _Outcome(skip_reason=f"size mismatch: {message}")
        raw = _nearest_resize(raw, image.size)
        resized = {
            "name": sample.name,
            "image": str(sample.image),
            "label": str(sample.label),
            "label_size": list(label_size),
            "image_size": list(image.size),
        }
    out = out_dir / f"{sample.name}.png"
    write_label(out, _to_train_ids(raw, lut, sample.label))
    return _Outcome(row={**row, "label": str(out)}, resized=resized)


def _first_few(items: list[str]) -> str:
    shown = "; ".join(items[:EXAMPLES_IN_MESSAGE])
    return shown + (f" (and {len(items) - EXAMPLES_IN_MESSAGE} more)" if len(items) > EXAMPLES_IN_MESSAGE else "")


def _check_unique_names(samples: list[Sample]) -> None:
    """Each frame's label is written as ``<name>.png``: two frames of one name would overwrite each other."""
    first: dict[str, Path] = {}
    clashes = []
    for sample in samples:
        if sample.name in first:
            clashes.append(f"{sample.name!r} ({first[sample.name]} and {sample.image})")
        first.setdefault(sample.name, sample.image)
    if clashes:
        raise LabelConversionError(f"frames share a name, so their labels would overwrite: {_first_few(clashes)}")


def _check_size_policy(dataset: Dataset, size_mismatch: SizeMismatchPolicy) -> None:
    """Only GTA5 has known, tolerable size mismatches; skipping or resizing elsewhere would hide a broken
    dataset."""
    if dataset != "gta5" and size_mismatch != "error":
        raise ValueError(
            f"size_mismatch={size_mismatch!r} applies to gta5 only: a {dataset} label/image size mismatch is "
            "always an error"
        )


def convert_labels(
    dataset: Dataset,
    samples: list[Sample],
    out_dir: Path,
    list_path: Path,
    *,
    split: str,
    size_mismatch: SizeMismatchPolicy = "error",
    require_labels: bool = True,
    threads: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> ConversionReport:
    """Write train-ID label PNGs to ``out_dir`` and the ``name,image,label`` CSV file list to ``list_path``.

    ``require_labels`` says whether the split is labelled. A source frame (GTA5, SYNTHIA) without a label
    file is skipped and reported: partial downloads and odd frames are known, and sources only train. A
    target frame (Cityscapes val) without one is an error, since every mIoU is computed on that split
    and a silently smaller one changes every result. The target train split is unlabelled
    (``require_labels=False``): its frames are listed with an empty label.

    ``size_mismatch`` is GTA5's policy for its known label/image size mismatches; the other datasets
    accept only ``"error"``.
    """
    _check_size_policy(dataset, size_mismatch)
    if not samples:
        raise LabelConversionError(f"no {dataset} '{split}' frames given to convert")
    _check_unique_names(samples)
    lut = dataset_format(dataset).lut()
    out_dir.mkdir(parents=True, exist_ok=True)
    report = ConversionReport(dataset, split, expected_total=GTA5_FRAME_COUNT if dataset == "gta5" else None)
    rows: list[dict] = []
    unlabelled_targets: list[Sample] = []
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        outcomes: Iterable[_Outcome] = pool.map(
            lambda s: _convert_one(dataset, s, out_dir, lut, size_mismatch), samples
        )
        for done, (sample, outcome) in enumerate(zip(samples, outcomes, strict=True), start=1):
            if outcome.resized is not None:
                report.add_resized(outcome.resized)
            if outcome.row is None:
                report.skip(sample, outcome.skip_reason)
            elif outcome.row["label"] or not require_labels:
                rows.append(outcome.row)
            elif dataset in SOURCE_DATASETS:
                report.skip(sample, "no label file")
            else:
                unlabelled_targets.append(sample)
            if progress is not None:
                progress(done, len(samples))
    if unlabelled_targets:
        missing = [f"{s.label or 'no label listed'} (image {s.image})" for s in unlabelled_targets]
        raise LabelConversionError(
            f"{len(missing)} of {len(samples)} {dataset} '{split}' frames have no label file, and every "
            f"labelled target frame is scored: missing {_first_few(missing)}"
        )
    if not rows:
        reasons = [f"{item['image']}: {item['reason']}" for item in report.skipped]
        raise LabelConversionError(
            f"every one of the {len(samples)} {dataset} '{split}' frames was skipped (each is logged): "
            + _first_few(reasons)
        )
    report.converted = len(rows)
    with atomic_path(list_path) as tmp:
        pd.DataFrame(rows, columns=["name", "image", "label"]).to_csv(tmp, index=False)
    return report


ListSamples = Callable[[Path, str, Mapping[str, object] | None], list[Sample]]


class DatasetFormat(NamedTuple):
    """How one dataset is read: its frame listing, its raw-label reader and the LUT into train IDs."""

    list_samples: ListSamples
    read_label: Callable[[Path], np.ndarray]
    lut: Callable[[], np.ndarray]


def _without_options(dataset: str, listing: Callable[[Path, str], list[Sample]]) -> ListSamples:
    def list_split(root: Path, split: str, options: Mapping[str, object] | None = None) -> list[Sample]:
        read_options(dataset, options, {})
        return listing(root, split)

    return list_split


DATASET_FORMATS: dict[str, DatasetFormat] = {
    "gta5": DatasetFormat(
        _without_options("gta5", lambda root, _: list_gta5(root)), read_index_label, gta5_to_train_id_lut
    ),
    "synthia": DatasetFormat(
        _without_options("synthia", lambda root, _: list_synthia(root)), read_synthia_label, synthia_to_train_id_lut
    ),
    "cityscapes": DatasetFormat(
        _without_options("cityscapes", list_cityscapes), read_index_label, cityscapes_to_train_id_lut
    ),
    "acdc": DatasetFormat(list_acdc, read_index_label, train_id_identity_lut),
    "dark_zurich": DatasetFormat(list_dark_zurich, read_index_label, train_id_identity_lut),
    "bdd100k": DatasetFormat(list_bdd100k, read_index_label, train_id_identity_lut),
    "idd": DatasetFormat(list_idd, read_index_label, idd_level3_to_train_id_lut),
    "mapillary": DatasetFormat(list_mapillary, read_index_label, mapillary_to_train_id_lut),
    "crosscity": DatasetFormat(list_crosscity, read_index_label, crosscity_to_train_id_lut),
    "folder": DatasetFormat(list_folder, read_index_label, train_id_identity_lut),
}


def dataset_format(dataset: str) -> DatasetFormat:
    if dataset not in DATASET_FORMATS:
        raise ValueError(f"unknown dataset {dataset!r}; udaflow reads {', '.join(DATASET_FORMATS)}")
    return DATASET_FORMATS[dataset]


def list_samples(dataset: Dataset, root: Path, split: str, options: Mapping[str, object] | None = None) -> list[Sample]:
    """The frames of one dataset split. GTA5 and SYNTHIA have one split, ``all``; every target offers
    ``train`` (unlabelled) and ``val`` (scored). ``options`` are the dataset's own settings (ACDC
    ``conditions``, Cross-City ``city``, ``folder`` ``train_list``/``val_list``); others take none."""
    return dataset_format(dataset).list_samples(root, split, options)


def write_report(path: str | os.PathLike[str], report: ConversionReport) -> None:
    write_json(path, report.as_dict())
