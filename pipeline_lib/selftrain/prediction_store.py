"""Per-shard HDF5 store of target predictions: float16 class probabilities at the network's stride.

The class-balanced label argmax_c P_c / t_c needs every class's probability, not only the max
(§4.5), but the reference's float32 full-resolution maps cost 159 MB per image (§4.7, §14). One
stride-8 float16 map is 19×128×256×2 B ≈ 1.2 MB for a Cityscapes frame; ``full_resolution``
upsamples it on the fly, deterministically, so the histogram pass (predict job) and the label pass
(pseudo-label job) see identical scores.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import torch

from pipeline_lib.intermediate_files import check_unit_range, finished_store, reading
from pipeline_lib.losses import upsample_logits

FORMAT = "udaflow-predictions-v1"
GROUP = "predictions"
WHAT = "prediction store"


@dataclass(frozen=True)
class StoredPrediction:
    name: str
    image: str  # path of the image, as in the target file list
    label: str  # its ground-truth path ("" when the split has none), used for diagnostics only
    size_hw: tuple[int, int]  # the image's full resolution
    probabilities: np.ndarray  # (C, h, w) float16 at stride 8


class PredictionWriter:
    """Write predictions one image at a time into ``path`` (an HDF5 file, one chunked dataset per image)."""

    def __init__(self, path: str | os.PathLike[str], num_classes: int) -> None:
        self.path = Path(path)
        self.file = h5py.File(self.path, "w")
        self.file.attrs["format"] = FORMAT
        self.file.attrs["num_classes"] = num_classes
        self.group = self.file.create_group(GROUP)
        self.count = 0

    def add(self, name: str, image: str, label: str, size_hw: tuple[int, int], probabilities: np.ndarray) -> None:
        """Store one image; fletcher32 makes a chunk whose bytes changed on disk fail when it is read."""
        data = self.group.create_dataset(
            f"{self.count:06d}",
            data=probabilities.astype(np.float16),
            chunks=True,
            compression="lzf",
            fletcher32=True,
        )
        data.attrs.update(name=name, image=image, label=label, height=size_hw[0], width=size_hw[1])
        self.count += 1

    def close(self) -> None:
        self.file.attrs["count"] = self.count
        self.file.close()

    def __enter__(self) -> PredictionWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_predictions(path: str | os.PathLike[str]) -> Iterator[StoredPrediction]:
    """The predictions of one shard file, in the order they were written, each checked to be probabilities."""
    path = Path(path)
    _, keys = finished_store(path, WHAT, FORMAT, GROUP)
    with reading(path, WHAT), h5py.File(path, "r") as file:
        for key in sorted(keys):
            data = file[GROUP][key]
            yield StoredPrediction(
                name=str(data.attrs["name"]),
                image=str(data.attrs["image"]),
                label=str(data.attrs["label"]),
                size_hw=(int(data.attrs["height"]), int(data.attrs["width"])),
                probabilities=check_unit_range(data[()], path, WHAT, f"{GROUP}/{key}"),
            )


def prediction_count(path: str | os.PathLike[str]) -> int:
    """How many images a finished shard file holds (for progress lines), without reading them."""
    attrs, _ = finished_store(path, WHAT, FORMAT, GROUP)
    return int(attrs["count"])


def full_resolution(prediction: StoredPrediction, device: torch.device | str = "cpu") -> torch.Tensor:
    """(C, H, W) float32 probabilities at the image's resolution (bilinear, as the logits are upsampled)."""
    return upsample_stored(torch.from_numpy(prediction.probabilities).to(device), prediction.size_hw)


def upsample_stored(probabilities: torch.Tensor, size_hw: tuple[int, int]) -> torch.Tensor:
    """``full_resolution`` of a (C, h, w) float16 tensor that is (or will be) stored, wherever it lives."""
    return upsample_logits(probabilities.float()[None], size_hw)[0]
