"""Job: score a model file on a labelled val split (the target's or another dataset's) and write its result files."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from pipeline_lib.atomic import atomic_path, write_json
from pipeline_lib.data.datasets import read_file_list
from pipeline_lib.data.image_io import write_label, write_rgb
from pipeline_lib.data.labels import CLASSES_16, train_id_to_label_id_lut
from pipeline_lib.engine.device import select_device, set_cpu_threads
from pipeline_lib.engine.performance import ComputeSettings, configure_backends, prepare_model
from pipeline_lib.evaluation import (
    EvaluationConfig,
    Prediction,
    evaluate_split,
    label_id_name,
    per_class_table,
    visualization_panel,
)
from pipeline_lib.metrics import summarize
from pipeline_lib.models.serialization import load_model
from pipeline_lib.provenance import provenance

log = logging.getLogger(__name__)


def evaluation_config(section: dict[str, Any]) -> EvaluationConfig:
    return EvaluationConfig(
        input_size=tuple(section["input_size"]) if section["input_size"] else None,
        resize=section.get("resize", "bilinear"),
        scales=tuple(section["scales"]),
        flip=section["flip"],
        num_visualizations=section["num_visualizations"],
        save_label_ids=section["save_label_ids"],
    )


def run(
    model_path: str | Path,
    file_list: str | Path,
    miou_out: str | Path,
    per_class_out: str | Path,
    visuals_dir: str | Path,
    label_ids_dir: str | Path,
    *,
    evaluation: dict[str, Any],
    compute: dict[str, Any],
    config: dict[str, Any],
    method: str,
    dataset: str = "cityscapes",
    seed: int = 0,
    threads: int = 1,
) -> dict[str, Any]:
    """``dataset`` names the scored split's dataset in ``miou.json`` (the method x target table reads it)."""
    set_cpu_threads(threads)
    device = select_device(compute["device"])
    cfg = evaluation_config(evaluation)
    settings = ComputeSettings.from_config(compute)
    configure_backends(settings.deterministic)
    model, spec = load_model(model_path)
    prepare_model(model, device, settings.on(device).channels_last)
    rows = read_file_list(file_list)
    Path(visuals_dir).mkdir(parents=True, exist_ok=True)
    Path(label_ids_dir).mkdir(parents=True, exist_ok=True)
    to_label_ids = train_id_to_label_id_lut()

    def save_label_ids(item: Prediction) -> None:
        write_label(Path(label_ids_dir) / label_id_name(item.name), to_label_ids[item.prediction])

    matrix, kept = evaluate_split(
        model, rows, model.input_convention, cfg, device,
        on_prediction=save_label_ids if cfg.save_label_ids else None, compute=settings,
    )
    for item in kept:
        write_rgb(Path(visuals_dir) / f"{item.name}.png", visualization_panel(item))
    protocol = "compact16" if spec.num_classes == len(CLASSES_16) else "19"
    scores = summarize(matrix, config["source"], protocol, dataset)
    result = {
        "method": method,
        "seed": seed,
        "dataset": dataset,
        **scores,
        "images": len(rows),
        "confusion_matrix": np.asarray(matrix).tolist(),
        "provenance": provenance(config, Path.cwd(), model=str(model_path), model_spec=spec.__dict__),
    }
    with atomic_path(per_class_out) as tmp:
        per_class_table(scores).to_csv(tmp, index=False)
    write_json(miou_out, result)
    log.info("%s on %s: mIoU %.2f over %d images", method, dataset, scores["miou"] or float("nan"), len(rows))
    return result
