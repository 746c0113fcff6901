"""CBST/MLSL's own ``.lst`` file lists as udaflow file lists.

The references list frames as ``<image path>TAB<label path>`` relative to the dataset root, e.g.
``leftImg8bit/train/aachen/aachen_000010_000019_leftImg8bit.png``. Their Cityscapes ``train.lst`` is a
505-image subset (the "ClsConfSet", shared/spec/cbst_mlsl.md §0) whose selection was never published,
so only the list itself can be reused: ``select_listed`` keeps those frames of the converted
Cityscapes train list, in the reference's order.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

CITYSCAPES_IMAGE_SUFFIX = "_leftImg8bit.png"


def read_reference_list(path: str | Path) -> list[str]:
    """The frame names (``aachen_000010_000019``) of a Cityscapes ``.lst``, in file order.

    A line without a ``_leftImg8bit.png`` image or a repeated frame is an error naming the line.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"reference file list {path} does not exist")
    names: list[str] = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        image = line.split("\t", 1)[0].strip()
        if not image.endswith(CITYSCAPES_IMAGE_SUFFIX):
            raise ValueError(f"{path} line {number}: {image!r} is not a Cityscapes *{CITYSCAPES_IMAGE_SUFFIX} image")
        name = Path(image).name.removesuffix(CITYSCAPES_IMAGE_SUFFIX)
        if name in names:
            raise ValueError(f"{path} line {number}: {name} is listed twice")
        names.append(name)
    if not names:
        raise ValueError(f"{path}: the file list has no lines")
    return names


def select_listed(file_list: pd.DataFrame, names: list[str], list_path: str | Path) -> pd.DataFrame:
    """The rows of ``file_list`` (``name,image,label``) named in ``names``, in that order.

    Every listed frame must be in ``file_list`` (the converted Cityscapes train split): a frame the
    dataset lacks is an error naming the first few, never a silently shorter target set.
    """
    indexed = file_list.set_index("name", drop=False)
    absent = [name for name in names if name not in indexed.index]
    if absent:
        shown = ", ".join(absent[:5])
        raise ValueError(
            f"{list_path}: {len(absent)} of {len(names)} listed frames are not in the Cityscapes train split: {shown}"
        )
    return indexed.loc[names].reset_index(drop=True)
