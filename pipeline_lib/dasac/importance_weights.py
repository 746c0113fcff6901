"""Importance-sampling weights of the target images (DA-SAC spec A.5).

The reference (``tools/compute_IS_weights.py`` L42-98) counts, for every baseline prediction mask
i and every class c in it, the pixels n_{i,c}, and stores the fraction w_{i,c} = n_{i,c} / N_c of
the class's total N_c = sum_i n_{i,c}; classes absent from an image have no entry. Its loader
(``datasets/dataloader_target.py`` L146-198) turns them into one distribution over images per class,

    p_c(i) = rho / N + (1 - rho) * w_{i,c},        rho = SAMPLE_UNIFORM_PRIOR = 0.25,

and draws a sample by picking a class, then an image by inverse CDF. Classes the evaluation ignores
(SYNTHIA: terrain, truck, train) use the uniform 1/N.

The reference pickles a dict with ``torch.save``; we write the same numbers as a CSV (``WEIGHT_COLUMNS``):
one row per (image, predicted class) with the pixel count and the fraction. ``released_weights``
converts the released ``cs_weights_<net>_<source>.data`` files (``{mask basename: {train ID:
fraction}}``, the masks named ``<frame>_gtFine_labelIds.png``) into that table; their pixel counts
are not stored, so that column stays empty.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline_lib.atomic import atomic_path
from pipeline_lib.data.labels import IGNORE_INDEX, TRAIN_CLASSES
from pipeline_lib.engine.checkpoint import load_checkpoint

log = logging.getLogger(__name__)

#: Columns of the weight file: image name (the file list's ``name``), train ID, its class name,
#: predicted pixels n_{i,c}, and the fraction w_{i,c} = n_{i,c} / N_c.
WEIGHT_COLUMNS = ("name", "class_id", "class_name", "pixels", "weight")
#: The reference's ``DATASET.SAMPLE_UNIFORM_PRIOR`` (never overridden by a config).
UNIFORM_PRIOR = 0.25
#: Tolerance of the reference's check that every class's weights sum to 1 (L190).
SUM_TOLERANCE = 1e-3


def count_class_pixels(prediction: np.ndarray, num_classes: int = len(TRAIN_CLASSES)) -> dict[int, int]:
    """Pixels per predicted class in one mask, skipping 255; only classes present get an entry."""
    values, counts = np.unique(np.asarray(prediction), return_counts=True)
    unknown = [int(v) for v in values if v != IGNORE_INDEX and not 0 <= v < num_classes]
    if unknown:
        raise ValueError(f"prediction holds values {unknown} outside the train IDs 0..{num_classes - 1}")
    return {int(v): int(n) for v, n in zip(values, counts, strict=True) if v != IGNORE_INDEX}


def importance_weights(counts: dict[str, dict[int, int]]) -> pd.DataFrame:
    """The weight table (``WEIGHT_COLUMNS``) from per-image class counts, as the reference normalises them.

    ``counts`` maps an image name to ``count_class_pixels`` of its prediction. Each class's weights
    sum to 1 over the images that contain it.
    """
    rows = [(name, class_id, pixels) for name, per_class in counts.items() for class_id, pixels in per_class.items()]
    frame = pd.DataFrame(rows, columns=["name", "class_id", "pixels"])
    totals = frame.groupby("class_id")["pixels"].transform("sum")
    frame["weight"] = frame["pixels"] / totals
    frame["class_name"] = [TRAIN_CLASSES[c] for c in frame["class_id"]]
    return frame.loc[:, list(WEIGHT_COLUMNS)].sort_values(["name", "class_id"], ignore_index=True)


#: How DA-SAC's target list names a Cityscapes frame's mask (``data/train_cityscapes.txt``).
RELEASED_MASK_SUFFIX = "_gtFine_labelIds.png"


def load_released_weights(path: str | os.PathLike[str]) -> Mapping[str, Mapping[int, float]]:
    """A released ``.data`` file, loaded without running code: its keys are NumPy uint8 class IDs and its
    values NumPy float64 fractions (``np.unique`` of a mask and a ``float64`` sum), nothing else is allowed."""
    scalar = np._core.multiarray.scalar
    allowed = [scalar, (scalar, "numpy.core.multiarray.scalar"), np.dtype, np.dtypes.UInt8DType, np.dtypes.Float64DType]
    released = load_checkpoint(path, allowed)
    if not isinstance(released, Mapping) or not all(isinstance(v, Mapping) for v in released.values()):
        raise ValueError(f"{path}: expected DA-SAC's {{mask basename: {{class: fraction}}}} dict")
    return released


def released_weights(released: Mapping[str, Mapping[int, float]], names: Sequence[str], path: Path) -> pd.DataFrame:
    """The weight table of a released ``.data`` dict for the target list whose image ``names`` are given.

    Keys are mask basenames; each must be one frame of the list (by its name's last path part), and
    every frame of the list must have one, as the reference asserts (``len(loaded_weights) ==
    num_samples``). Errors name ``path`` and the first mismatches.
    """
    by_frame = {Path(name).name: name for name in names}
    frames = {str(key).removesuffix(RELEASED_MASK_SUFFIX): value for key, value in released.items()}
    unknown, absent = sorted(set(frames) - set(by_frame)), sorted(set(by_frame) - set(frames))
    if unknown or absent:
        raise ValueError(
            f"{path}: the released weights do not match the target list ({len(unknown)} weighted masks not in the "
            f"list, e.g. {unknown[:3]}; {len(absent)} listed frames without weights, e.g. {absent[:3]})"
        )
    rows = []
    for frame, per_class in frames.items():
        for class_id, weight in per_class.items():
            class_id = int(class_id)
            if not 0 <= class_id < len(TRAIN_CLASSES):
                raise ValueError(f"{path}: {frame} has class {class_id}, not a train ID")
            rows.append((by_frame[frame], class_id, TRAIN_CLASSES[class_id], None, float(weight)))
    frame_table = pd.DataFrame(rows, columns=list(WEIGHT_COLUMNS)).astype({"pixels": "Int64"})
    return frame_table.sort_values(["name", "class_id"], ignore_index=True)


def write_weights(path: str | os.PathLike[str], weights: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        weights.to_csv(tmp, index=False, float_format="%.10g")


def read_weights(path: str | os.PathLike[str], names: Sequence[str]) -> pd.DataFrame:
    """Load a weight file for the target list whose image ``names`` are given, checking it fits.

    Like the reference's assertions (L185, L190), every image of the list must be in the file and
    nothing else, and each class's weights must sum to 1.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"importance-weight file {path} does not exist")
    frame = pd.read_csv(path, dtype={"name": str})
    if tuple(frame.columns) != WEIGHT_COLUMNS:
        raise ValueError(f"{path}: expected the columns {','.join(WEIGHT_COLUMNS)}, got {','.join(frame.columns)}")
    listed, weighted = set(names), set(frame["name"])
    if listed != weighted:
        absent, extra = sorted(listed - weighted), sorted(weighted - listed)
        raise ValueError(
            f"{path}: the weights do not match the target list ({len(absent)} listed images without weights, "
            f"e.g. {absent[:3]}; {len(extra)} weighted images not in the list, e.g. {extra[:3]}); "
            "recompute them from the same list"
        )
    bad_ids = sorted(set(frame["class_id"]) - set(range(len(TRAIN_CLASSES))))
    if bad_ids:
        raise ValueError(f"{path}: class_id values {bad_ids} are not train IDs")
    sums = frame.groupby("class_id")["weight"].sum()
    off = sums[(sums - 1.0).abs() > SUM_TOLERANCE]
    if not off.empty:
        raise ValueError(f"{path}: the weights of classes {off.to_dict()} do not sum to 1")
    return frame


def sampling_distributions(
    weights: pd.DataFrame | None,
    names: Sequence[str],
    num_classes: int = len(TRAIN_CLASSES),
    uniform_prior: float = UNIFORM_PRIOR,
    uniform_classes: Iterable[int] = (),
) -> np.ndarray:
    """Per-class cumulative distributions over the images, shape (num_classes, N): the reference's
    ``sample_groups`` (L146-198).

    Row c is the CDF of p_c(i) = rho/N + (1 - rho) w_{i,c}. ``uniform_classes`` (the evaluation's
    ignored classes) and, without a weight file, every class use 1/N. A class the baseline never
    predicted would make the reference's assertion fail; we give it the uniform distribution too
    and log which classes that is.
    """
    count = len(names)
    uniform = np.full(count, 1.0 / count)
    probabilities = np.tile(uniform, (num_classes, 1))
    if weights is not None:
        index = {name: i for i, name in enumerate(names)}
        table = np.zeros((num_classes, count))
        table[weights["class_id"].to_numpy(), [index[name] for name in weights["name"]]] = weights["weight"].to_numpy()
        predicted = table.sum(axis=1) > 0
        skip = set(uniform_classes)
        never = [TRAIN_CLASSES[c] for c in range(num_classes) if not predicted[c] and c not in skip]
        if never:
            log.warning("classes never predicted by the baseline, sampled uniformly: %s", ", ".join(never))
        for c in range(num_classes):
            if predicted[c] and c not in skip:
                probabilities[c] = uniform_prior * uniform + (1.0 - uniform_prior) * table[c]
    return np.cumsum(probabilities, axis=1)


def draw_image(cdfs: np.ndarray, class_id: int, u: float) -> int:
    """The image of class ``class_id`` at uniform draw ``u`` in [0, 1): inverse CDF, ``bisect_left`` as L264-272."""
    cdf = cdfs[class_id]
    return min(int(np.searchsorted(cdf, u * cdf[-1], side="left")), cdf.shape[0] - 1)
