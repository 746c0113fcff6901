"""Where the frames and labels of the extra target datasets lie in their releases.

Each ``list_<dataset>(root, split, options)`` returns the split's ``Sample`` list for ``convert_labels``.
udaflow's two target splits are ``train`` (the unlabelled adaptation frames; a label file may be absent)
and ``val`` (labelled, the split every mIoU is computed on); each listing maps them to its release's
own folder names. Unknown options and splits are errors, so a typo never falls back to a default.

The layouts were checked against public code that reads the real releases:

- ACDC: ``rgb_anon/<condition>/<split>/<sequence>/<stem>_rgb_anon.png`` with
  ``gt/<condition>/<split>/<sequence>/<stem>_gt_labelTrainIds.png`` (``w1oves/Rein``
  ``configs/_base_/datasets/{fog,night,rain,snow}-acdc_1024x1024.py``).
- Dark Zurich: ``rgb_anon/{train,val}/night/<sequence>/<stem>_rgb_anon.png``, labels only for val as
  ``gt/val/night/<sequence>/<stem>_gt_labelTrainIds.png`` (mmsegmentation ``configs/_base_/datasets/
  dark_zurich.py``, DAFormer's ``DarkZurichDataset``).
- BDD100K: ``images/10k/<split>/<name>.jpg`` with ``labels/sem_seg/masks/<split>/<name>.png``, 8-bit train
  IDs (several public mmseg configs and loaders of the 10K semantic-segmentation release).
- IDD: ``leftImg8bit/<split>/<drive>/<id>_leftImg8bit.png`` with ``gtFine/<split>/<drive>/<id>_gtFine_
  polygons.json``, rasterised by the toolkit (``AutoNUE/public-code``, ``preperation/createLabels.py``,
  whose default ``--id-type level3Id`` writes ``<id>_gtFine_labellevel3Ids.png`` beside the JSON).
- Mapillary Vistas: ``{training,validation}/images/<key>.jpg`` with ``.../labels/<key>.png`` (v1.1/v1.2
  packages; RobustNet ``datasets/mapillary.py``) or ``.../v1.2/labels/<key>.png`` (the v2.0 package, which
  also ships 124-class ``v2.0/labels`` that the 66-class table does not fit; Rein's
  ``tools/convert_datasets/mapillary2cityscape.py``).
- NTHU Cross-City: ``<City>/Images/{Train,Test}/<stem>.jpg`` with ``<City>/Labels/Test/<stem>_eval.png``
  (MaxSquareLoss ``datasets/crosscity_Dataset.py``, which also accepts ``.png`` images).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from pipeline_lib.data.samples import (
    LabelConversionError,
    Sample,
    read_options,
    release_split,
    require_dir,
    require_samples,
)

ACDC_CONDITIONS: tuple[str, ...] = ("fog", "night", "rain", "snow")
CROSSCITY_CITIES: tuple[str, ...] = ("Rome", "Rio", "Tokyo", "Taipei")
TRAIN_VAL = {"train": "train", "val": "val"}


def _strip(name: str, suffix: str) -> str:
    return name[: -len(suffix)]


def _suffixed(
    images: Path, labels: Path, image_suffix: str, label_suffix: str, dataset: str, prefix: str = ""
) -> list[Sample]:
    """Frames ``images/<sequence>/<stem><image_suffix>`` paired with ``labels/<sequence>/<stem><label_suffix>``."""
    pattern = f"*/*{image_suffix}"
    samples = []
    for image in sorted(images.glob(pattern)):
        stem = _strip(image.name, image_suffix)
        samples.append(Sample(prefix + stem, image, labels / image.parent.name / f"{stem}{label_suffix}"))
    return require_samples(samples, images, pattern, dataset)


def list_acdc(root: Path, split: str, options: Mapping[str, object] | None = None) -> list[Sample]:
    """ACDC frames of the chosen ``conditions`` (option, default all four), named ``<condition>_<stem>`` so
    that conditions never collide. ACDC labels its train split too; those labels are converted when present."""
    chosen = read_options("acdc", options, {"conditions": ACDC_CONDITIONS})["conditions"]
    conditions = [chosen] if isinstance(chosen, str) else list(chosen)
    unknown = sorted(set(conditions) - set(ACDC_CONDITIONS))
    if not conditions or unknown or len(set(conditions)) != len(conditions):
        raise ValueError(f"acdc option conditions={chosen!r}: give distinct names out of {', '.join(ACDC_CONDITIONS)}")
    folder = release_split("acdc", split, TRAIN_VAL)
    samples = []
    for condition in conditions:
        images = root / "rgb_anon" / condition / folder
        what = f"ACDC rgb_anon/{condition}/{folder} folder (or leave {condition} out of the conditions option)"
        require_dir(images, what, "acdc")
        labels = root / "gt" / condition / folder
        samples += _suffixed(images, labels, "_rgb_anon.png", "_gt_labelTrainIds.png", "acdc", f"{condition}_")
    return samples


def list_dark_zurich(root: Path, split: str, options: Mapping[str, object] | None = None) -> list[Sample]:
    """Dark Zurich's night frames: the train split's day and twilight folders are not the target."""
    read_options("dark_zurich", options, {})
    folder = release_split("dark_zurich", split, TRAIN_VAL)
    images = root / "rgb_anon" / folder / "night"
    require_dir(images, f"Dark Zurich rgb_anon/{folder}/night folder", "dark_zurich")
    labels = root / "gt" / folder / "night"
    return _suffixed(images, labels, "_rgb_anon.png", "_gt_labelTrainIds.png", "dark_zurich")


def list_bdd100k(root: Path, split: str, options: Mapping[str, object] | None = None) -> list[Sample]:
    """BDD100K's 10K semantic-segmentation images and their train-ID masks, paired by name."""
    read_options("bdd100k", options, {})
    folder = release_split("bdd100k", split, TRAIN_VAL)
    images = root / "images" / "10k" / folder
    require_dir(images, f"BDD100K images/10k/{folder} folder", "bdd100k")
    labels = root / "labels" / "sem_seg" / "masks" / folder
    samples = [Sample(p.stem, p, labels / f"{p.stem}.png") for p in sorted(images.glob("*.jpg"))]
    return require_samples(samples, images, "*.jpg", "bdd100k")


IDD_LABEL_SUFFIX = "_gtFine_labellevel3Ids.png"


def list_idd(root: Path, split: str, options: Mapping[str, object] | None = None) -> list[Sample]:
    """IDD frames with the level-3 label PNGs that IDD's ``createLabels.py`` writes from the polygons.

    IDD ships only JSON polygons; users rasterise them first with the toolkit (github.com/AutoNUE/public-code):
    ``python preperation/createLabels.py --datadir <root> --id-type level3Id``. A labelled split whose gtFine
    folder holds none of those PNGs is an error saying so. Frame IDs repeat across drives, so a frame is
    named ``<drive>_<id>``.
    """
    read_options("idd", options, {})
    folder = release_split("idd", split, TRAIN_VAL)
    images = root / "leftImg8bit" / folder
    require_dir(images, f"IDD leftImg8bit/{folder} folder", "idd")
    labels = root / "gtFine" / folder
    if split == "val":
        require_dir(labels, f"IDD gtFine/{folder} folder", "idd")
        if next(labels.glob(f"*/*{IDD_LABEL_SUFFIX}"), None) is None:
            raise LabelConversionError(
                f"no IDD level-3 label PNGs (*{IDD_LABEL_SUFFIX}) in {labels}: IDD ships polygons only; run the "
                f"IDD toolkit's 'python preperation/createLabels.py --datadir {root} --id-type level3Id' first"
            )
    samples = _suffixed(images, labels, "_leftImg8bit.png", IDD_LABEL_SUFFIX, "idd")
    return [Sample(f"{s.image.parent.name}_{s.name}", s.image, s.label) for s in samples]


def list_mapillary(root: Path, split: str, options: Mapping[str, object] | None = None) -> list[Sample]:
    """Mapillary Vistas ``training`` / ``validation`` JPEGs with their v1.2 label PNGs, paired by key."""
    read_options("mapillary", options, {})
    folder = release_split("mapillary", split, {"train": "training", "val": "validation"})
    images = root / folder / "images"
    require_dir(images, f"Mapillary Vistas {folder}/images folder", "mapillary")
    labels = root / folder / "v1.2" / "labels"
    if not labels.is_dir():  # the v1.1/v1.2 packages, not the v2.0 one
        labels = root / folder / "labels"
    samples = [Sample(p.stem, p, labels / f"{p.stem}.png") for p in sorted(images.glob("*.jpg"))]
    return require_samples(samples, images, "*.jpg", "mapillary")


def list_crosscity(root: Path, split: str, options: Mapping[str, object] | None = None) -> list[Sample]:
    """One city of NTHU Cross-City (option ``city``, required): its unlabelled ``Train`` images, or its
    ``Test`` images with their ``_eval.png`` labels, the labelled split every Cross-City paper scores."""
    city = read_options("crosscity", options, {"city": None})["city"]
    if city not in CROSSCITY_CITIES:
        raise ValueError(f"crosscity needs the option city, one of {', '.join(CROSSCITY_CITIES)}; got {city!r}")
    folder = release_split("crosscity", split, {"train": "Train", "val": "Test"})
    images = root / city / "Images" / folder
    require_dir(images, f"Cross-City {city}/Images/{folder} folder", "crosscity")
    labels = root / city / "Labels" / folder
    found = sorted([*images.glob("*.jpg"), *images.glob("*.png")])
    samples = [Sample(p.stem, p, labels / f"{p.stem}_eval.png") for p in found]
    return require_samples(samples, images, "*.jpg or *.png", "crosscity")


def list_folder(root: Path, split: str, options: Mapping[str, object] | None = None) -> list[Sample]:
    """The user's own data, listed in a CSV per split.

    Format: a CSV with the header ``image,label``, one frame a row; paths are relative to the CSV's folder
    (absolute ones are kept). Labels are 8-bit PNGs already in Cityscapes train IDs (0-18, 255 = ignore).
    The ``label`` cell (or the whole column) may be empty in the unlabelled ``train`` list, never in the
    scored ``val`` list. Options ``train_list`` and ``val_list`` give the CSVs, relative to the root
    (defaults ``train.csv`` and ``val.csv``). A frame is named after its image path below the CSV's folder.
    Every listed file must exist: a missing one is an error naming it and its row.
    """
    lists = read_options("folder", options, {"train_list": "train.csv", "val_list": "val.csv"})
    listing = root / str(lists[f"{release_split('folder', split, TRAIN_VAL)}_list"])
    if not listing.is_file():
        raise FileNotFoundError(f"folder list not found: {listing} (option {split}_list, config key datasets.folder)")
    try:
        rows = pd.read_csv(listing, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError as err:
        raise LabelConversionError(f"{listing}: empty file, not a list with the header 'image,label'") from err
    if "image" not in rows.columns or not set(rows.columns) <= {"image", "label"}:
        header = ",".join(rows.columns)
        raise LabelConversionError(f"{listing}: the header must be 'image,label' (label optional), not '{header}'")
    base = listing.parent
    samples = []
    for line, row in enumerate(rows.itertuples(index=False), start=2):  # line 1 is the header
        where = f"{listing} line {line}"
        image = base / row.image
        if not row.image or not image.is_file():
            raise LabelConversionError(f"{where}: image file {image} not found")
        label_cell = getattr(row, "label", "")
        label = base / label_cell if label_cell else None
        if label is None and split == "val":
            raise LabelConversionError(f"{where}: no label for {image}, and every frame of the val list is scored")
        if label is not None and not label.is_file():
            raise LabelConversionError(f"{where}: label file {label} not found")
        relative = image.relative_to(base) if image.is_relative_to(base) else Path(image.name)
        samples.append(Sample("__".join(relative.with_suffix("").parts), image, label))
    if not samples:
        raise LabelConversionError(f"{listing}: lists no frames (config key datasets.folder)")
    return samples
