"""Job: a stage's teacher's hard pseudo-labels with flip averaging, thresholded (spec §3 ``--flip``, §7.2)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from pipeline_lib.atomic import atomic_path
from pipeline_lib.cpsl.hard_label_store import HardLabelWriter
from pipeline_lib.cpsl.predictions import flip_averaged_probabilities, target_outputs
from pipeline_lib.data.labels import IGNORE_INDEX
from pipeline_lib.engine.device import select_device, set_cpu_threads
from pipeline_lib.models.serialization import load_model

log = logging.getLogger(__name__)


def thresholded_labels(probabilities: torch.Tensor, threshold: float) -> torch.Tensor:
    """argmax, with pixels whose confidence is <= ``threshold`` ignored (the reference's ``conf <= 0.95 -> 250``)."""
    confidence, labels = probabilities.max(dim=0)
    return torch.where(confidence > threshold, labels, torch.full_like(labels, IGNORE_INDEX))


def run(
    model_path: str | Path,
    file_list: str | Path,
    store_out: str | Path,
    *,
    threshold: float,
    compute: dict[str, Any],
    threads: int = 1,
) -> None:
    set_cpu_threads(threads)
    device = select_device(compute["device"])
    model, _ = load_model(model_path)
    model.to(device)
    kept = total = 0
    with atomic_path(store_out) as tmp, HardLabelWriter(tmp, threshold) as writer:
        for name, size_hw, image, outputs in target_outputs(model, file_list, device):
            probabilities = flip_averaged_probabilities(model, image, outputs["out"], size_hw)
            labels = thresholded_labels(probabilities, threshold)
            writer.add(name, labels.cpu().numpy())
            kept += int((labels != IGNORE_INDEX).sum())
            total += labels.numel()
    log.info("pseudo-labels: %.1f %% of the pixels above confidence %g", 100 * kept / total, threshold)
