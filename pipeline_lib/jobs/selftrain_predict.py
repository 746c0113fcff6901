"""Job: predict one shard of the target list with the previous round's model.

Writes the shard's stride-8 float16 probabilities (HDF5, ``prediction_store``) and the histogram of
its argmax confidences (``thresholds.ConfidenceHistogram``), computed from the stored values after
upsampling and the prior, exactly as the pseudo-label job will see them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pipeline_lib.atomic import atomic_path
from pipeline_lib.data.datasets import read_file_list
from pipeline_lib.data.image_io import read_rgb
from pipeline_lib.data.transforms import normalize
from pipeline_lib.engine.device import select_device, set_cpu_threads
from pipeline_lib.models.serialization import load_model
from pipeline_lib.progress import Progress
from pipeline_lib.selftrain.prediction_store import PredictionWriter, StoredPrediction, full_resolution
from pipeline_lib.selftrain.pseudo_labels import PredictionConfig, predict_stride8
from pipeline_lib.selftrain.spatial_prior import apply_spatial_prior
from pipeline_lib.selftrain.thresholds import ConfidenceHistogram

log = logging.getLogger(__name__)


def shard_rows(file_list: str | Path, shard: int, shards: int):
    """Rows ``shard``, ``shard + shards``, ... of the target list (every shard sees the same list)."""
    if not 0 <= shard < shards:
        raise ValueError(f"shard {shard} outside 0..{shards - 1} (config key self_training.shards)")
    return read_file_list(file_list).iloc[shard::shards]


def load_prior(path: str | Path | None) -> torch.Tensor | None:
    return None if path is None else torch.from_numpy(np.load(path))


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
    model, spec = load_model(model_path)
    model.to(device).eval()
    config = PredictionConfig(
        scales=tuple(prediction["scales"]),
        flip=prediction["flip"],
        sisc_patches=sisc["patches"] if sisc else 0,
        sisc_patch_size=tuple(sisc["patch_size"]) if sisc else (512, 512),
    )
    prior = load_prior(prior_path)
    histogram = ConfidenceHistogram(spec.num_classes, prediction["histogram_bins"])
    rows = shard_rows(file_list, shard, shards)
    progress = Progress(f"predicted shard {shard}", len(rows))
    with atomic_path(store_out) as tmp, PredictionWriter(tmp, spec.num_classes) as writer:
        for row in rows.itertuples():
            rgb = read_rgb(row.image)
            image = normalize(torch.from_numpy(rgb).permute(2, 0, 1).float(), model.input_convention)
            # SISC windows depend on (seed, round, image position in the list) only.
            generator = torch.Generator().manual_seed(seed * 1_000_003 + round_index * 10_007 + int(row.Index))
            probs = predict_stride8(model, image[None].to(device), config, generator).cpu().numpy()
            stored = StoredPrediction(row.name, row.image, row.label, rgb.shape[:2], probs.astype(np.float16))
            writer.add(stored.name, stored.image, stored.label, stored.size_hw, stored.probabilities)
            scores = full_resolution(stored, device)
            histogram.update(scores if prior is None else apply_spatial_prior(scores, prior))
            progress.advance()
    with atomic_path(histogram_out) as tmp:
        histogram.save(tmp)
    log.info("shard %d/%d: %d images, %d pixels in the histogram", shard, shards, len(rows), histogram.counts.sum())
