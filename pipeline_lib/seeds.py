"""Where each training seed's files live: seed 0 at the plain paths, seed k under ``seed<k>/``.

``training.seeds`` lists the seeds the workflow runs every method with. Seed 0 keeps the paths a
single run has always had (``results/cbst_sp/round3/miou.json``, ``work/source/model.pt``), so
one-seed commands and caches stay valid; seed 3 of the same result is
``results/seed3/cbst_sp/round3/miou.json`` and its intermediates sit under ``work/seed3/``. The
rules carry this folder as the wildcard ``seed_dir`` ("" or "seed<k>/").
"""

from __future__ import annotations

import re
from collections.abc import Iterable

#: The ``seed_dir`` wildcard: empty for seed 0, ``seed<k>/`` for any other seed.
SEED_DIR_PATTERN = r"(seed[1-9]\d*/)?"
_SEED_DIR = re.compile(r"seed(?P<seed>[1-9]\d*)/")
#: Top-level folders whose files depend on the seed (data/ and the report do not).
SEEDED_ROOTS = ("results", "work", "logs", "benchmarks")


def seed_dir(seed: int) -> str:
    """The folder a seed's files sit under, below ``results/`` or ``work/``: ``""`` or ``seed<k>/``."""
    if seed < 0:
        raise ValueError(f"config key training.seeds: seeds are non-negative integers, got {seed}")
    return "" if seed == 0 else f"seed{seed}/"


def seed_of(folder: str) -> int:
    """The inverse of ``seed_dir``."""
    if folder == "":
        return 0
    match = _SEED_DIR.fullmatch(folder)
    if match is None:
        raise ValueError(f"{folder!r} is not a seed folder (seed<k>/ with k >= 1)")
    return int(match["seed"])


def split_seed_dir(name: str) -> tuple[int, str]:
    """``seed2/cbst_sp/round3`` -> (2, "cbst_sp/round3"); a name without a seed folder is seed 0's."""
    match = _SEED_DIR.match(name)
    return (0, name) if match is None else (int(match["seed"]), name[match.end() :])


def with_seed(path: str, seed: int) -> str:
    """A seed-0 path (``results/cpsl/stage1/miou.json``) as the same file of ``seed``."""
    root, _, rest = path.partition("/")
    if root not in SEEDED_ROOTS or not rest:
        raise ValueError(f"{path!r} is not under one of {', '.join(SEEDED_ROOTS)}")
    return f"{root}/{seed_dir(seed)}{rest}"


def for_seeds(paths: Iterable[str], seeds: Iterable[int]) -> list[str]:
    """Every path for every seed, seed by seed: what ``snakemake`` without a target makes."""
    paths = list(paths)
    return [with_seed(path, seed) for seed in seeds for path in paths]
