"""Reading back the workflow's own HDF5 and NumPy intermediates, so that a damaged one is reported by name.

A job killed outside ``atomic_path``, a full disk or a flipped bit leave files that h5py and NumPy
reject with messages that do not name them (``truncated file``, ``File is not a zip file``, ``bad
symbol table node signature``, ``filter returned failure during read`` for a chunk that fails its
fletcher32 checksum). Every such file is the output of a workflow rule, so deleting it makes
Snakemake recreate it, and the error says so. The wording follows ``engine.checkpoint.load_checkpoint``,
which does the same for torch files.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np

RECREATE = "delete it so that the workflow recreates it"
#: Bit pattern of float16 1.0; the non-negative float16 values up to 1.0 are the patterns 0 to this.
FLOAT16_ONE_BITS = int(np.array(1.0, dtype=np.float16).view(np.uint16))


class DamagedFileError(ValueError):
    """An intermediate file that exists but cannot be read back: truncated, or its bytes changed.

    Built by ``damaged`` and constructible from its message alone, as a data-loader worker's
    exception is when the main process re-raises it.
    """


def damaged(path: str | os.PathLike[str], what: str, problem: object) -> DamagedFileError:
    """The error for ``path``, which should be a ``what`` but is not readable because of ``problem``."""
    return DamagedFileError(f"{path}: not a readable {what} ({problem}); {RECREATE}")


@contextlib.contextmanager
def reading(path: str | os.PathLike[str], what: str) -> Iterator[None]:
    """Re-raise a failure of the reads in the block as ``DamagedFileError`` naming ``path`` and ``what``.

    h5py and NumPy (with its zip reader) raise several exception types for damaged files, so every
    ``Exception`` is caught: keep only reads in the block. An ``OSError`` with an ``errno`` (missing
    file, no permission, locking refused) passes unchanged, since deleting the file would not help.
    """
    try:
        yield
    except DamagedFileError:
        raise
    except Exception as err:
        if isinstance(err, OSError) and err.errno is not None:
            raise
        raise damaged(path, what, err) from err


def check_unit_range(values: np.ndarray, path: str | os.PathLike[str], what: str, key: str) -> np.ndarray:
    """``values`` after checking that they lie in [0, 1] (NaN does not), as probabilities must.

    Chunks written before the stores had fletcher32 checksums, and ``.npy`` files, carry no checksum:
    a few changed bytes turn a float16 probability into e.g. 60224, which would pass on silently.
    NumPy compares float16 without SIMD (2.4 ms for one stored prediction, as long as reading it), so
    float16 is first checked on its bit patterns: those of +0.0 to 1.0 are exactly 0 to ``0x3C00``
    (negative values, infinities and NaN lie above). Only values failing that are compared as numbers.
    """
    if values.dtype == np.float16 and values.view(np.uint16).max() <= FLOAT16_ONE_BITS:
        return values
    low, high = values.min(), values.max()
    if not (low >= 0 and high <= 1):
        raise damaged(path, what, f"{key} holds values outside [0, 1]: min {low}, max {high}")
    return values


def load_probabilities(path: str | os.PathLike[str], what: str) -> np.ndarray:
    """A ``.npy`` array of values in [0, 1] (a spatial prior, a class distribution), never unpickled."""
    with reading(path, what):
        return check_unit_range(np.load(path), path, what, "the array")


def finished_store(
    path: str | os.PathLike[str], what: str, file_format: str, group: str
) -> tuple[dict[str, Any], frozenset[str]]:
    """The file attributes and the dataset names under ``group`` of a finished HDF5 store of ``file_format``.

    The writers set ``format`` first and ``count`` in ``close``: a file without ``count`` comes from a
    job that did not finish.
    """
    with reading(path, what), h5py.File(path, "r") as file:
        attrs = dict(file.attrs)
        if attrs.get("format") == file_format and "count" in attrs:
            return attrs, frozenset(file[group])
    if attrs.get("format") != file_format:
        raise ValueError(f"{path}: not a {what} (format {attrs.get('format')!r})")
    raise ValueError(f"{path}: incomplete {what} (written by a job that did not finish)")


class LazyHDF5:
    """Datasets of one HDF5 file, read through a handle opened at the first read.

    A store is built in the main process and read in data-loader workers: the handle is opened by the
    process that reads, since h5py handles cross neither pickling nor, safely, a fork.
    """

    def __init__(self, path: Path, what: str) -> None:
        self.path = path
        self.what = what
        self._file: h5py.File | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_file": None}

    def read(self, key: str) -> np.ndarray:
        """The whole dataset ``key``; a chunk failing its checksum raises ``DamagedFileError``."""
        with reading(self.path, self.what):
            if self._file is None:
                self._file = h5py.File(self.path, "r")
            return self._file[key][()]
