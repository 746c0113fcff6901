"""Job: the Sinkhorn marginal, the class histogram of the warm-up model's hard predictions (spec §5)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pipeline_lib.atomic import atomic_path
from pipeline_lib.cpsl.predictions import target_outputs
from pipeline_lib.engine.device import select_device, set_cpu_threads
from pipeline_lib.models.serialization import load_model

log = logging.getLogger(__name__)


def class_distribution(counts: np.ndarray) -> np.ndarray:
    """Pixel counts per class -> float64 distribution summing to 1 (``generate_class_distribution.py`` L69-72)."""
    total = counts.sum()
    if total == 0:
        raise ValueError("no pixel was counted: the target list produced no predictions")
    return counts.astype(np.float64) / total


def run(
    model_path: str | Path, file_list: str | Path, out: str | Path, *, compute: dict[str, Any], threads: int = 1
) -> None:
    """Argmax at output resolution (not upsampled), no threshold, over every target train image."""
    set_cpu_threads(threads)
    device = select_device(compute["device"])
    model, spec = load_model(model_path)
    model.to(device)
    counts = torch.zeros(spec.num_classes, dtype=torch.float64)
    for _, _, _, outputs in target_outputs(model, file_list, device):
        counts += torch.bincount(outputs["out"].argmax(dim=1).flatten().cpu(), minlength=spec.num_classes).double()
    distribution = class_distribution(counts.numpy())
    with atomic_path(out) as tmp:
        np.save(tmp, distribution)
    log.info("class distribution: %s", " ".join(f"{p:.4f}" for p in distribution))
