"""Job: predict one shard of the target list with the previous round's model.

Writes the shard's stride-8 float16 probabilities (HDF5, ``prediction_store``) and the histogram of
its argmax confidences (``thresholds.ConfidenceHistogram``), computed from the stored values after
upsampling and the prior, exactly as the pseudo-label job will see them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from pipeline_lib.async_writer import BackgroundWriter
from pipeline_lib.atomic import atomic_path
from pipeline_lib.data.datasets import read_file_list
from pipeline_lib.data.image_io import read_rgb
from pipeline_lib.data.transforms import normalize
from pipeline_lib.engine.device import select_device, set_cpu_threads
from pipeline_lib.engine.performance import (
    ComputeSettings,
    autocast,
    configure_backends,
    memory_format,
    prepare_model,
    to_device,
)
from pipeline_lib.evaluation import require_finite
from pipeline_lib.intermediate_files import load_probabilities
from pipeline_lib.models.serialization import load_model
from pipeline_lib.progress import Progress
from pipeline_lib.selftrain.prediction_store import PredictionWriter, upsample_stored
from pipeline_lib.selftrain.pseudo_labels import PredictionConfig, predict_stride8
from pipeline_lib.selftrain.spatial_prior import SpatialPrior
from pipeline_lib.selftrain.thresholds import ConfidenceHistogram

log = logging.getLogger(__name__)


def shard_rows(file_list: str | Path, shard: int, shards: int):
    """Rows ``shard``, ``shard + shards``, ... of the target list (every shard sees the same list)."""
    if not 0 <= shard < shards:
        raise ValueError(f"shard {shard} outside 0..{shards - 1} (config key self_training.shards)")
    rows = read_file_list(file_list)
    if shards > len(rows):
        raise ValueError(
            f"config key self_training.shards: {shards} shards for the {len(rows)} images of {file_list}; "
            "every shard needs at least one image"
        )
    return rows.iloc[shard::shards]


def load_prior(path: str | Path | None, device: torch.device | str = "cpu") -> SpatialPrior | None:
    """The (C, H, W) spatial prior on ``device``, or None without one; in [0, 1], as the confidence
    histograms need."""
    if path is None:
        return None
    return SpatialPrior(torch.from_numpy(load_probabilities(path, "spatial prior")).to(device))


class _TargetImages(Dataset):
    """(row position, uint8 (3, H, W) image) per shard row, decoded ahead in loader workers."""

    def __init__(self, rows) -> None:
        self.images = list(rows["image"])

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, position: int) -> tuple[int, torch.Tensor]:
        return position, torch.from_numpy(read_rgb(self.images[position])).permute(2, 0, 1)


def run(
    model_path: str | Path,
    file_list: str | Path,
    prior_path: str | Path | None,
    store_out: str | Path,
    histogram_out: str | Path,
    *,
    shard: int,
    shards: int,
    prediction: dict[str, Any],
    sisc: dict[str, Any] | None,
    seed: int,
    round_index: int,
    compute: dict[str, Any],
    threads: int = 1,
) -> None:
    set_cpu_threads(threads)
    device = select_device(compute["device"])
    settings = ComputeSettings.from_config(compute)
    configure_backends(settings.deterministic)
    settings = settings.on(device)
    model, spec = load_model(model_path)
    prepare_model(model, device, settings.channels_last).eval()
    config = PredictionConfig(
        scales=tuple(prediction["scales"]),
        flip=prediction["flip"],
        sisc_patches=sisc["patches"] if sisc else 0,
        sisc_patch_size=tuple(sisc["patch_size"]) if sisc else (512, 512),
    )
    prior = load_prior(prior_path, device)
    histogram = ConfidenceHistogram(spec.num_classes, prediction["histogram_bins"], device=device)
    rows = shard_rows(file_list, shard, shards)
    progress = Progress(f"predicted shard {shard}", len(rows))
    loader = DataLoader(
        _TargetImages(rows), batch_size=None, num_workers=settings.num_workers, pin_memory=settings.pin_memory
    )
    with atomic_path(store_out) as tmp, PredictionWriter(tmp, spec.num_classes) as writer, \
            BackgroundWriter() as background:
        for position, rgb in loader:
            row = rows.iloc[position]
            image = normalize(to_device(rgb, device).float(), model.input_convention)[None]
            image = image.contiguous(memory_format=memory_format(settings.channels_last))
            # SISC windows depend on (seed, round, image position in the list) only.
            list_index = int(rows.index[position])
            generator = torch.Generator().manual_seed(seed * 1_000_003 + round_index * 10_007 + list_index)
            with autocast(device, settings.amp):
                probs = predict_stride8(model, image, config, generator).to(torch.float16)
            require_finite(probs, row["image"])
            size_hw = tuple(rgb.shape[1:])
            # The store gets float16 (copied back in the writer thread); the histogram sees exactly those
            # values upsampled on the device, as the pseudo-label job will read them.
            background.submit(_store, writer, row["name"], row["image"], row["label"], size_hw, probs)
            scores = upsample_stored(probs, size_hw)
            histogram.update(scores if prior is None else prior.apply(scores))
            progress.advance()
    with atomic_path(histogram_out) as tmp:
        histogram.save(tmp)
    log.info("shard %d/%d: %d images, %d pixels in the histogram", shard, shards, len(rows), histogram.counts.sum())


def _store(writer: PredictionWriter, name: str, image: str, label: str, size_hw: tuple[int, int], probs) -> None:
    writer.add(name, image, label, size_hw, probs.cpu().numpy())
