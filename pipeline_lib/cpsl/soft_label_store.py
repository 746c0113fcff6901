"""HDF5 store of the warm-up model's soft pseudo-labels (spec §3 ``--soft``, §12).

The reference saves ``softmax(logits)`` of every target train image at the network's output
resolution (129x257 for 1024x2048) as float32 ``.npy``, about 7.5 GB for 2975 images. Here one HDF5
file holds them as float16, one chunked, compressed dataset per image named by the image's ``name``
(``/soft_labels/<name>``, shape (C, h, w)), about 1.2 MB per Cityscapes image before compression.
Readers open the file lazily, so each data-loader worker gets its own handle.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from pipeline_lib.intermediate_files import LazyHDF5, check_unit_range, finished_store

FORMAT = "udaflow-cpsl-soft-labels-v1"
GROUP = "soft_labels"
WHAT = "CPSL soft-label store"


class SoftLabelWriter:
    """Write one (C, h, w) probability map per image into ``path``; ``close`` marks the file complete."""

    def __init__(self, path: str | os.PathLike[str], num_classes: int) -> None:
        self.path = Path(path)
        self.num_classes = num_classes
        self.file = h5py.File(self.path, "w")
        self.file.attrs["format"] = FORMAT
        self.file.attrs["num_classes"] = num_classes
        self.group = self.file.create_group(GROUP)

    def add(self, name: str, probabilities: np.ndarray, size_hw: tuple[int, int]) -> None:
        if probabilities.ndim != 3 or probabilities.shape[0] != self.num_classes:
            raise ValueError(
                f"soft label of {name} has shape {probabilities.shape}, expected ({self.num_classes}, h, w)"
            )
        if "/" in name or name in self.group:
            raise ValueError(f"{self.path}: image name {name!r} contains '/' or appears twice in the target list")
        data = self.group.create_dataset(
            name,
            data=probabilities.astype(np.float16),
            chunks=probabilities.shape,
            compression="gzip",
            compression_opts=4,
            fletcher32=True,  # a chunk whose bytes changed on disk fails when it is read
        )
        data.attrs["height"], data.attrs["width"] = size_hw

    def close(self) -> None:
        self.file.attrs["count"] = len(self.group)
        self.file.close()

    def __enter__(self) -> SoftLabelWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class SoftLabelStore:
    """Random access by image name to a finished ``SoftLabelWriter`` file."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        attrs, self.names = finished_store(self.path, WHAT, FORMAT, GROUP)
        self.num_classes = int(attrs["num_classes"])
        self._datasets = LazyHDF5(self.path, WHAT)

    def __contains__(self, name: str) -> bool:
        return name in self.names

    def __getitem__(self, name: str) -> np.ndarray:
        """The (C, h, w) float16 probabilities of image ``name``, checked to lie in [0, 1]."""
        if name not in self.names:
            raise KeyError(f"{self.path}: no soft label for image {name!r}")
        key = f"{GROUP}/{name}"
        return check_unit_range(self._datasets.read(key), self.path, WHAT, key)
