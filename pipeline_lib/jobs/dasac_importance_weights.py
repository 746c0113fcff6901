"""Job: importance-sampling weights of the target train images from the ABN baseline (spec A.5.1).

The baseline predicts every target image at full resolution, single scale (``infer_val.py``, A.7);
the argmax train IDs are counted per class and normalised per class over the images
(``pipeline_lib.dasac.importance_weights``), and written as a CSV the SAC job reads.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from pipeline_lib.dasac.importance_weights import count_class_pixels, importance_weights, write_weights
from pipeline_lib.data.datasets import read_file_list
from pipeline_lib.data.image_io import read_rgb
from pipeline_lib.data.transforms import normalize
from pipeline_lib.engine.device import select_device, set_cpu_threads
from pipeline_lib.evaluation import EvaluationConfig, predict_probabilities, require_finite
from pipeline_lib.models.serialization import load_model
from pipeline_lib.progress import Progress

log = logging.getLogger(__name__)


def run(
    model_path: str | Path,
    target_list: str | Path,
    weights_out: str | Path,
    *,
    compute: dict[str, Any],
    threads: int = 1,
) -> None:
    set_cpu_threads(threads)
    device = select_device(compute["device"])
    model, spec = load_model(model_path)
    model.to(device).eval()
    frames = read_file_list(target_list)
    single_scale = EvaluationConfig()
    counts: dict[str, dict[int, int]] = {}
    progress = Progress("predicted target images", len(frames))
    for row in frames.itertuples(index=False):
        rgb = read_rgb(row.image)
        image = normalize(torch.from_numpy(rgb).permute(2, 0, 1).float(), model.input_convention)
        size_hw = rgb.shape[:2]
        input_wh = (size_hw[1], size_hw[0])
        probs = predict_probabilities(model, image[None].to(device), size_hw, input_wh, single_scale)
        require_finite(probs, row.image)
        counts[row.name] = count_class_pixels(probs.argmax(dim=1)[0].cpu().numpy(), spec.num_classes)
        progress.advance()
    weights = importance_weights(counts)
    predicted = weights.drop_duplicates("class_id").sort_values("class_id")["class_name"].tolist()
    log.info("%d of %d classes predicted on the target set: %s", len(predicted), spec.num_classes, ", ".join(predicted))
    write_weights(weights_out, weights)
