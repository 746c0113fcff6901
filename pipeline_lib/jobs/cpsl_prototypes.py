"""Job: initial class prototypes from the warm-up model (``calc_prototype.py``, spec §4)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from pipeline_lib.cpsl.predictions import target_outputs
from pipeline_lib.cpsl.prototypes import PrototypeAccumulator, image_class_means, save_prototypes
from pipeline_lib.engine.device import select_device, set_cpu_threads
from pipeline_lib.models.serialization import load_model

log = logging.getLogger(__name__)


def run(
    model_path: str | Path,
    file_list: str | Path,
    prototypes_out: str | Path,
    *,
    settings: dict[str, Any],
    compute: dict[str, Any],
    threads: int = 1,
) -> None:
    """``settings``: ``min_pixels`` (reference 10), ``count_cap`` (3000), ``passes`` (4: the reference visits
    the target set 4 times, which only matters once a class reaches the cap).

    The reference's passes see the same image means each time (eval mode, no augmentation, list order:
    ``opt.noshuffle``), so the model runs over the targets once and the passes fold those means in again:
    one forward pass instead of ``passes``. The means of the classes present are kept in memory
    (at most 0.46 GB for Cityscapes train: 2 975 images x 19 classes x a 2048-d feature)."""
    set_cpu_threads(threads)
    device = select_device(compute["device"])
    model, spec = load_model(model_path)
    model.to(device)
    image_means = []
    for _, _, _, outputs in target_outputs(model, file_list, device):
        features = outputs[model.prototype_feature]
        labels = outputs["out"].argmax(dim=1)
        means, present = image_class_means(features.cpu(), labels.cpu(), spec.num_classes, settings["min_pixels"])
        image_means.append((present, means[present]))
    assert image_means  # read_file_list rejects an empty list
    accumulator = PrototypeAccumulator(spec.num_classes, features.shape[1], settings["count_cap"])
    for pass_index in range(settings["passes"]):
        for present, means in image_means:
            accumulator.update(_scatter(means, present), present)
        log.info("prototype pass %d/%d done", pass_index + 1, settings["passes"])
    missing = [k for k in range(spec.num_classes) if accumulator.counts[k] == 0]
    if missing:
        log.warning(
            "classes %s were never predicted with >= %d pixels: their prototypes stay 0",
            missing,
            settings["min_pixels"],
        )
    save_prototypes(prototypes_out, accumulator.prototypes, accumulator.counts)
    log.info(
        "%d prototypes of the %r feature (%d-d) written to %s",
        spec.num_classes,
        model.prototype_feature,
        accumulator.vectors.shape[1],
        prototypes_out,
    )


def _scatter(means: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    """(N, C, D) class means from the means of the present classes (zeros elsewhere, as ``image_class_means``)."""
    full = means.new_zeros(*present.shape, means.shape[-1])
    full[present] = means
    return full
