"""Job: CBST-SP's spatial prior from the source labels, or the reference's ``prior_array.mat``, saved as a
(C, H, W) float32 ``.npy``."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from pipeline_lib.atomic import atomic_path
from pipeline_lib.data.datasets import read_file_list
from pipeline_lib.data.image_io import read_train_id_label
from pipeline_lib.data.labels import train_id_to_output_lut
from pipeline_lib.progress import Progress
from pipeline_lib.selftrain.spatial_prior import class_position_counts, read_prior_mat, spatial_prior

log = logging.getLogger(__name__)


def run(
    file_list: str | Path | None,
    prior_out: str | Path,
    *,
    num_classes: int,
    size_wh: list[int],
    sigma: float,
    normalization: str,
    file: str | Path | None = None,
) -> None:
    """Count and smooth the source labels of ``file_list``, or read the released ``file`` when it is set."""
    if file:
        released = read_prior_mat(file, num_classes)
        with atomic_path(prior_out) as tmp:
            np.save(tmp, released)
        log.info("spatial prior = the released %s: %s, scaled to a maximum of 1", file, released.shape)
        return
    rows = read_file_list(file_list)
    labelled = [label for label in rows["label"] if label]
    if not labelled:
        raise ValueError(f"{file_list}: no labelled rows, the spatial prior needs source labels")
    progress = Progress("spatial prior: read", len(labelled), unit="labels")

    to_outputs = train_id_to_output_lut(num_classes)

    def read(path: str) -> np.ndarray:
        label = read_train_id_label(path)
        progress.advance()
        return label if to_outputs is None else to_outputs[label]

    counts = class_position_counts(map(read, labelled), num_classes, tuple(size_wh))
    prior = spatial_prior(counts, sigma, normalization)
    with atomic_path(prior_out) as tmp:
        np.save(tmp, prior)
    log.info("spatial prior from %d source labels: %s, %s normalisation", len(labelled), prior.shape, normalization)
