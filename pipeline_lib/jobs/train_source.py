"""Job: source-only training, written as a udaflow model file and a CSV of losses."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pipeline_lib.atomic import atomic_path
from pipeline_lib.data.datasets import SegmentationDataset
from pipeline_lib.data.labels import train_id_to_output_lut
from pipeline_lib.data.transforms import AugmentationConfig, TrainAugmentation
from pipeline_lib.engine import distributed
from pipeline_lib.engine.device import select_device, set_cpu_threads
from pipeline_lib.engine.trainer import CHECKPOINT_NAME, LOG_NAME, EngineSettings
from pipeline_lib.methods.source import SourceTrainingConfig, train_source
from pipeline_lib.models.imagenet import load_imagenet_weights
from pipeline_lib.models.serialization import ModelSpec, save_model

log = logging.getLogger(__name__)


def settings_fingerprint(*parts: Any) -> str:
    """Hash of everything that shapes a training run; a checkpoint is resumed only under the same hash."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def build_spec(model_config: dict[str, Any], multi_level: bool = False) -> ModelSpec:
    return ModelSpec(
        arch=model_config["arch"],
        num_classes=model_config["num_classes"],
        multi_level=multi_level,
        aspp_branches_used=model_config["aspp_branches_used"],
        head=model_config.get("head", "aspp"),  # the schema's default, for model sections written before the key
    )


def initial_model(model_config: dict[str, Any], spec: ModelSpec, seed: int) -> nn.Module:
    """The network before training, its random initialisation drawn from ``seed`` (the Trainer seeds
    the global RNG only later, so without this every run started from different weights)."""
    torch.manual_seed(seed)
    model = spec.build()
    weights = model_config.get("imagenet_weights")
    if weights:
        report = load_imagenet_weights(model, weights)
        log.info("ImageNet init from %s: %s", weights, report.describe())
    else:
        log.warning("model.imagenet_weights is null: the backbone starts from random weights")
    return model


@distributed.data_parallel
def run(
    file_list: str | Path,
    model_out: str | Path,
    log_out: str | Path,
    state_dir: str | Path,
    *,
    model_config: dict[str, Any],
    training: dict[str, Any],
    compute: dict[str, Any],
    threads: int = 1,
) -> None:
    set_cpu_threads(threads)
    device = select_device(compute["device"])
    source = dict(training["source"])
    config = SourceTrainingConfig(**{**source, "augmentation": AugmentationConfig(**source["augmentation"])})
    spec = build_spec(model_config)
    model = initial_model(model_config, spec, training["seed"])
    dataset = SegmentationDataset(
        file_list, TrainAugmentation(config.augmentation, model.input_convention), model.input_convention,
        seed=training["seed"], label_map=train_id_to_output_lut(spec.num_classes),
    )
    log.info("source training on %d frames for %d iterations", len(dataset), config.iterations)
    train_source(
        model,
        dataset,
        config,
        state_dir=Path(state_dir),
        device=device,
        fingerprint=settings_fingerprint(model_config, training["seed"], source, Path(file_list).read_text()),
        engine=EngineSettings.from_config(training, compute),
    )
    if not distributed.world().is_main:
        return  # rank 0 of a data-parallel run writes the outputs
    save_model(model_out, model.cpu(), spec)
    with atomic_path(log_out) as tmp:
        shutil.copyfile(Path(state_dir) / LOG_NAME, tmp)
    # The model file is the durable result; a finished run's optimiser state is only disk weight.
    (Path(state_dir) / CHECKPOINT_NAME).unlink(missing_ok=True)
