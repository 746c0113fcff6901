"""What a dataset listing hands to label conversion, and the checks every listing shares.

Kept apart from ``convert.py`` so that the per-dataset listings (``convert.py`` for the sources and
Cityscapes, ``target_layouts.py`` for the other targets) and the conversion engine can all use it without
importing each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


class LabelConversionError(ValueError):
    """A dataset file that cannot be converted; the message names the file."""


@dataclass(frozen=True)
class Sample:
    """One frame: its image and where its label belongs; that file may be absent (the unlabelled target
    train split, a partial source download), which ``convert_labels`` judges per dataset and split.
    ``label`` is None only where a release names no label at all (an empty label cell of a ``folder`` list).
    """

    name: str
    image: Path
    label: Path | None


def require_dir(path: Path, what: str, dataset: str) -> None:
    if not path.is_dir():
        raise FileNotFoundError(f"{what} not found: {path} (config key datasets.{dataset}.root)")


def require_samples(samples: list[Sample], folder: Path, pattern: str, dataset: str) -> list[Sample]:
    """An empty image folder means a wrong root or split, never an empty dataset: say where we looked."""
    if not samples:
        raise LabelConversionError(
            f"no {dataset} images matching '{pattern}' in {folder} (config key datasets.{dataset}.root)"
        )
    return samples


def read_options(dataset: str, options: Mapping[str, object] | None, defaults: Mapping[str, object]) -> dict:
    """``options`` over ``defaults``; an unknown key is an error, as a typo must not fall back to a default."""
    given = dict(options or {})
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        takes = ", ".join(sorted(defaults)) or "none"
        raise ValueError(f"unknown {dataset} option(s) {unknown}; {dataset} takes: {takes}")
    return {**defaults, **given}


def release_split(dataset: str, split: str, folders: Mapping[str, str]) -> str:
    """The release's own folder name for one of udaflow's splits (``train`` unlabelled, ``val`` scored)."""
    if split not in folders:
        raise ValueError(f"{dataset} has the splits {', '.join(folders)}; got {split!r}")
    return folders[split]
