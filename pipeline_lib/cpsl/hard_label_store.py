"""HDF5 store of the flip-averaged hard pseudo-labels of stages 2 and 3 (spec §3 ``--flip``, §7.2, §12).

The reference writes a full-resolution label PNG plus a float16 confidence ``.npy`` per image
(~12.5 GB per stage) and thresholds at load time (confidence <= 0.95 -> ignore). Here the threshold
is applied when the labels are made and one uint8 label map per image is stored
(``/hard_labels/<name>``, 255 = ignore), gzip-compressed: changing the threshold re-runs this cheap
job, not the training that consumes it.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from pipeline_lib.intermediate_files import LazyHDF5, finished_store

FORMAT = "udaflow-cpsl-hard-labels-v1"
GROUP = "hard_labels"
WHAT = "CPSL hard-label store"


class HardLabelWriter:
    def __init__(self, path: str | os.PathLike[str], threshold: float) -> None:
        self.path = Path(path)
        self.file = h5py.File(self.path, "w")
        self.file.attrs["format"] = FORMAT
        self.file.attrs["threshold"] = threshold
        self.group = self.file.create_group(GROUP)

    def add(self, name: str, labels: np.ndarray) -> None:
        if labels.ndim != 2:
            raise ValueError(f"hard label of {name} has shape {labels.shape}, expected (H, W)")
        if "/" in name or name in self.group:
            raise ValueError(f"{self.path}: image name {name!r} contains '/' or appears twice in the target list")
        # fletcher32: a chunk whose bytes changed on disk fails when it is read.
        self.group.create_dataset(name, data=labels.astype(np.uint8), chunks=True, compression="gzip", fletcher32=True)

    def close(self) -> None:
        self.file.attrs["count"] = len(self.group)
        self.file.close()

    def __enter__(self) -> HardLabelWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class HardLabelStore:
    """Random access by image name to a finished ``HardLabelWriter`` file."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        attrs, self.names = finished_store(self.path, WHAT, FORMAT, GROUP)
        self.threshold = float(attrs["threshold"])
        self._datasets = LazyHDF5(self.path, WHAT)

    def __getitem__(self, name: str) -> np.ndarray:
        """The (H, W) uint8 labels of image ``name`` (255 = ignore)."""
        if name not in self.names:
            raise KeyError(f"{self.path}: no pseudo-label for image {name!r}")
        return self._datasets.read(f"{GROUP}/{name}")
