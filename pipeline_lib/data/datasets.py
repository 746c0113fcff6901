"""Segmentation datasets read from CSV file lists, and a resumable infinite batch stream.

A file list is a CSV with the header ``name,image,label``: one row per frame, ``label`` empty for
unlabeled target images, paths absolute or relative to the working directory (``convert.py`` writes
them). Labels are already-converted train-ID PNGs (255 = ignore).

Reproducibility: every random choice of a sample's augmentation comes from a ``torch.Generator``
seeded from (seed, epoch, index), and the batch order of epoch e from (seed, e). Nothing depends on
the worker process or on how many batches came before, so a run resumed at iteration k sees exactly
the batches an uninterrupted run sees from iteration k.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset

from pipeline_lib.data.image_io import read_rgb, read_train_id_label
from pipeline_lib.data.transforms import Convention, SampleTransform, normalize

FILE_LIST_COLUMNS = ("name", "image", "label")
_MISSING_SHOWN = 5


class FileListError(ValueError):
    """A file list with the wrong columns, no rows, or paths to files that do not exist."""


def read_file_list(path: str | os.PathLike[str]) -> pd.DataFrame:
    """The rows of a ``name,image,label`` CSV, all as strings (an empty label is ``""``).

    Every referenced image and non-empty label must exist: a broken list fails here, naming the list,
    the first few missing paths and how many are missing, rather than hours into training.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"file list {path} does not exist")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError as err:
        raise FileListError(f"{path}: empty file list, expected the header {','.join(FILE_LIST_COLUMNS)}") from err
    if tuple(frame.columns) != FILE_LIST_COLUMNS:
        raise FileListError(
            f"{path}: expected the columns {','.join(FILE_LIST_COLUMNS)}, got {','.join(map(str, frame.columns))}"
        )
    if frame.empty:
        raise FileListError(f"{path}: the file list has no rows")
    if (frame["image"] == "").any():
        raise FileListError(f"{path}: row {int((frame['image'] == '').idxmax()) + 2} has no image path")
    referenced = [*frame["image"], *(label for label in frame["label"] if label)]
    missing = [name for name in referenced if not Path(name).is_file()]
    if missing:
        shown = ", ".join(missing[:_MISSING_SHOWN])
        more = f" (and {len(missing) - _MISSING_SHOWN} more)" if len(missing) > _MISSING_SHOWN else ""
        raise FileListError(
            f"{path}: {len(missing)} referenced file(s) missing (relative paths resolve against {Path.cwd()}): "
            f"{shown}{more}"
        )
    return frame


# Stream tags keep the shuffle and the augmentations independent even when both use the same seed.
_SAMPLE_STREAM, _ORDER_STREAM = 0, 1


def _derive_seed(*values: int) -> int:
    """A well-mixed 63-bit seed from non-negative integers (``numpy.random.SeedSequence`` hashing)."""
    if min(values) < 0:
        raise ValueError(f"seeds, epochs and indices must be non-negative, got {values}")
    return int(np.random.SeedSequence(list(values)).generate_state(1, dtype=np.uint64)[0] >> 1)


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """The seed of one sample's augmentation in one epoch."""
    return _derive_seed(_SAMPLE_STREAM, seed, epoch, index)


def sample_generator(seed: int, epoch: int, index: int) -> torch.Generator:
    return torch.Generator().manual_seed(sample_seed(seed, epoch, index))


class SegmentationDataset(Dataset):
    """Frames of one file list, augmented by ``transform`` and normalised by ``convention``.

    An item is a dict: ``image`` (3, H, W) float32 normalised, ``label`` (H, W) int64 train IDs, or the
    network's output indices through ``label_map`` (``labels.train_id_to_output_lut``; only when
    ``with_labels`` and the row has a label), ``name`` and ``index``. The augmentation of
    item i depends on (seed, epoch, i) only; call ``set_epoch`` before each epoch's iteration
    (``infinite_loader`` does) so that epochs differ.
    """

    def __init__(
        self,
        file_list: str | os.PathLike[str],
        transform: SampleTransform,
        convention: Convention = "imagenet",
        with_labels: bool = True,
        seed: int = 0,
        label_map: np.ndarray | None = None,
    ) -> None:
        # A train transform pads with its convention's mean colour, which must normalise to 0.
        transform_convention = getattr(transform, "convention", convention)
        if transform_convention != convention:
            raise ValueError(
                f"transform pads for the {transform_convention!r} convention but the dataset normalises "
                f"with {convention!r}"
            )
        normalize(torch.zeros(3, 1, 1), convention)  # fail now on an unknown convention
        self.file_list = Path(file_list)
        self.frames = read_file_list(self.file_list)
        self.transform = transform
        self.convention = convention
        self.with_labels = with_labels
        self.seed = seed
        self.epoch = 0
        self.label_map = label_map

    def __len__(self) -> int:
        return len(self.frames)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | str | int]:
        row = self.frames.iloc[index]
        image = torch.from_numpy(np.array(read_rgb(row["image"]))).permute(2, 0, 1).float().contiguous()
        label = None
        if self.with_labels and row["label"]:
            train_ids = read_train_id_label(row["label"])
            if self.label_map is not None:  # to the network's outputs (compact16), before any augmentation
                train_ids = self.label_map[train_ids]
            label = torch.from_numpy(train_ids.astype(np.int64))
            if tuple(label.shape) != tuple(image.shape[-2:]):
                raise ValueError(
                    f"{self.file_list}: label {row['label']} is {tuple(label.shape)} (H, W) but image "
                    f"{row['image']} is {tuple(image.shape[-2:])}"
                )
        image, label = self.transform(image, label, sample_generator(self.seed, self.epoch, index))
        item: dict[str, torch.Tensor | str | int] = {
            "image": normalize(image, self.convention),
            "name": row["name"],
            "index": index,
        }
        if label is not None:
            item["label"] = label
        return item


def epoch_order(num_samples: int, seed: int, epoch: int) -> torch.Tensor:
    """The shuffled sample order of one epoch, a function of (seed, epoch) alone."""
    generator = torch.Generator().manual_seed(_derive_seed(_ORDER_STREAM, seed, epoch))
    return torch.randperm(num_samples, generator=generator)


def iterations_per_epoch(num_samples: int, batch_size: int) -> int:
    """Full batches per epoch: the incomplete last batch is dropped so every batch has ``batch_size``."""
    if batch_size < 1 or num_samples < batch_size:
        raise ValueError(f"batch size {batch_size} needs 1 <= batch size <= {num_samples} samples")
    return num_samples // batch_size


def infinite_loader(
    dataset: SegmentationDataset,
    batch_size: int,
    seed: int,
    start_iteration: int = 0,
    num_workers: int = 0,
    pin_memory: bool = False,
    rank: int = 0,
    world_size: int = 1,
) -> Iterator[dict]:
    """Batches forever, starting at ``start_iteration``: iteration k is the same batch whether or not the
    run was interrupted before it.

    Iteration k is batch k mod n of epoch k // n (n = ``iterations_per_epoch``); each epoch is a fresh
    shuffle (``epoch_order``). Each epoch gets its own ``DataLoader`` (non-persistent workers) after
    ``set_epoch``, so worker copies of the dataset carry the right epoch.

    With ``world_size`` data-parallel ranks, ``batch_size`` is the global batch and rank r gets the r-th
    of ``world_size`` equal slices of each, so together the ranks see the single-process batches.
    """
    if batch_size % world_size:
        raise ValueError(
            f"batch size {batch_size} cannot be split evenly over {world_size} data-parallel processes "
            "(one per GPU of the job); use a multiple of the job's GPU count"
        )
    if len(dataset) < batch_size:  # a small or wrong list: say which, not just the numbers
        source = getattr(dataset, "file_list", "the dataset")
        raise ValueError(f"{source}: {len(dataset)} frames, fewer than one batch of {batch_size} (the job's batch)")
    per_epoch = iterations_per_epoch(len(dataset), batch_size)
    local_batch = batch_size // world_size
    epoch, first_batch = divmod(start_iteration, per_epoch)
    while True:
        order = epoch_order(len(dataset), seed, epoch)[: per_epoch * batch_size].view(per_epoch, batch_size)
        dataset.set_epoch(epoch)
        loader = DataLoader(
            dataset,
            batch_size=local_batch,
            sampler=order[first_batch:, rank * local_batch : (rank + 1) * local_batch].flatten().tolist(),
            num_workers=num_workers,
            pin_memory=pin_memory,
            drop_last=True,
            # Worker base seeds come from here instead of the global RNG, which training owns.
            generator=torch.Generator().manual_seed(epoch),
        )
        yield from loader
        epoch, first_batch = epoch + 1, 0
