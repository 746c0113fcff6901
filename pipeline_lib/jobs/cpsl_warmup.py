"""Job: CPSL's warm-up model, a workflow model or a released CPSL/ProDA warm-up checkpoint (spec §1 step 0)."""

from __future__ import annotations

import logging
from pathlib import Path

from pipeline_lib.models.proda_import import import_proda
from pipeline_lib.models.serialization import load_model, save_model

log = logging.getLogger(__name__)


def run(model_in: str | Path, model_out: str | Path, *, released: bool) -> None:
    """Import ``model_in`` as a released ``.pkl`` (spec §9) when ``released``, else re-save the udaflow model
    file ``model_in`` (``cpsl.warmup_model``: the LS-GAN AdaptSegNet model or the source-only model).

    The released warm-up (41.4 mIoU) is AdaptSegNet-style adversarial (issue #11), which the workflow's
    LS-GAN preset trains; the author notes that a source-only warm-up also works, only lower.
    """
    if released:
        spec, report = import_proda(model_in, model_out)
        log.info(
            "warm-up imported from %s: %s, %d tensors, %d counters absent, %d counters ignored, iteration %s",
            model_in,
            spec.arch,
            len(report.loaded),
            len(report.missing),
            len(report.ignored),
            report.iteration,
        )
        return
    model, spec = load_model(model_in)
    save_model(model_out, model, spec)
    log.info("warm-up = the workflow model %s (%s, %s head)", model_in, spec.arch, spec.head)
