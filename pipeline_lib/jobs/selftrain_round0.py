"""Job: the released model self-training round 1 starts from (``self_training.round0_model``).

CBST and MLSL self-train from released source models (GTA5 35.4 mIoU, SYNTHIA 16-class 29.2; their
READMEs), MXNet ResNet-38 ``.params`` files: those are imported here exactly as ``udaflow import-cbst``
does. A udaflow model file (an import made beforehand, or another workflow's model) is checked and copied.
"""

from __future__ import annotations

import logging
from pathlib import Path

from pipeline_lib.models.cbst_import import import_cbst
from pipeline_lib.models.serialization import load_model, save_model

log = logging.getLogger(__name__)


def run(model_in: str | Path, model_out: str | Path, *, num_classes: int) -> None:
    """Write ``model_in`` to ``model_out`` as a udaflow model file with ``num_classes`` classes (model.num_classes)."""
    model_in = Path(model_in)
    if model_in.suffix == ".params":
        spec, report = import_cbst(model_in, model_out, num_classes)
        log.info(
            "round 0 imported from %s: %s, %d classes, %d tensors loaded",
            model_in,
            spec.arch,
            spec.num_classes,
            len(report.loaded),
        )
        return
    model, spec = load_model(model_in)
    if spec.num_classes != num_classes:
        raise ValueError(
            f"config key self_training.round0_model: {model_in} has {spec.num_classes} classes, "
            f"model.num_classes is {num_classes}"
        )
    save_model(model_out, model, spec)
    log.info("round 0 = the udaflow model %s (%s, %d classes)", model_in, spec.arch, spec.num_classes)
