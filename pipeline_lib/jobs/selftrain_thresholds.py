"""Job: merge the shard histograms of a round and write its class thresholds ``thresholds.json``."""

from __future__ import annotations

import logging
from pathlib import Path

from pipeline_lib.atomic import write_json
from pipeline_lib.data.labels import output_names
from pipeline_lib.selftrain.thresholds import ConfidenceHistogram, class_thresholds

log = logging.getLogger(__name__)


def run(histograms: list[str | Path], thresholds_out: str | Path, *, policy: str, portion: float) -> dict:
    merged = None
    for path in histograms:
        histogram = ConfidenceHistogram.load(path)
        if merged is None:
            merged = histogram
        else:
            try:
                merged.merge(histogram)
            except ValueError as err:
                raise ValueError(f"{path}: {err}") from err
    if merged is None:
        raise ValueError("no shard histograms given")
    result = class_thresholds(merged, portion, policy)
    names = output_names(merged.num_classes)
    payload = {
        "policy": result.policy,
        "target_portion": result.portion,
        "floor": result.floor,
        "resolution": result.resolution,
        "relative_resolution": result.relative_resolution,
        "thresholds": dict(zip(names, result.thresholds.tolist(), strict=True)),
        "class_pixels": dict(zip(names, result.class_pixels.tolist(), strict=True)),
    }
    write_json(thresholds_out, payload)
    rounded = {name: round(value, 4) for name, value in payload["thresholds"].items()}
    log.info("%s thresholds at portion %.4f: %s", policy, portion, rounded)
    return payload
