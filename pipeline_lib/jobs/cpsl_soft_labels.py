"""Job: the warm-up model's soft pseudo-labels of every target train image (spec §3 ``--soft``).

``softmax(logits)`` at the network's output resolution, no flip, no threshold, stored float16 in one
HDF5 file (``pipeline_lib.cpsl.soft_label_store``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pipeline_lib.atomic import atomic_path
from pipeline_lib.cpsl.predictions import target_outputs
from pipeline_lib.cpsl.soft_label_store import SoftLabelWriter
from pipeline_lib.engine.device import select_device, set_cpu_threads
from pipeline_lib.models.serialization import load_model

log = logging.getLogger(__name__)


def run(
    model_path: str | Path, file_list: str | Path, store_out: str | Path, *, compute: dict[str, Any], threads: int = 1
) -> None:
    set_cpu_threads(threads)
    device = select_device(compute["device"])
    model, spec = load_model(model_path)
    model.to(device)
    with atomic_path(store_out) as tmp, SoftLabelWriter(tmp, spec.num_classes) as writer:
        for name, size_hw, _, outputs in target_outputs(model, file_list, device):
            writer.add(name, outputs["out"][0].softmax(dim=0).cpu().numpy(), size_hw)
        count = len(writer.group)
    log.info("%d soft labels written to %s", count, store_out)
