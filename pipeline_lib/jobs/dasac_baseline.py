"""Job: DA-SAC's ABN baseline (spec A.4), written as a udaflow model file and a CSV of losses.

Like the reference, it starts from the configured ImageNet weights (random when
``model.imagenet_weights`` is null), not from the source-only model.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

from pipeline_lib.atomic import atomic_path
from pipeline_lib.data.datasets import SegmentationDataset
from pipeline_lib.data.transforms import AugmentationConfig, TrainAugmentation
from pipeline_lib.engine.device import select_device, set_cpu_threads
from pipeline_lib.engine.trainer import CHECKPOINT_NAME, LOG_NAME, EngineSettings
from pipeline_lib.jobs.train_source import build_spec, initial_model, settings_fingerprint
from pipeline_lib.methods.dasac import BaselineConfig, train_baseline
from pipeline_lib.models.serialization import save_model

log = logging.getLogger(__name__)


def baseline_config(settings: dict[str, Any]) -> BaselineConfig:
    """``settings``: the ``dasac.baseline`` section merged with the shared ``dasac`` keys it uses."""
    return BaselineConfig(
        **{
            **settings,
            "source_augmentation": AugmentationConfig(**settings["source_augmentation"]),
            "target_augmentation": AugmentationConfig(**settings["target_augmentation"]),
        }
    )


def run(
    source_list: str | Path,
    target_list: str | Path,
    model_out: str | Path,
    log_out: str | Path,
    state_dir: str | Path,
    *,
    model_config: dict[str, Any],
    settings: dict[str, Any],
    engine: dict[str, Any],
    compute: dict[str, Any],
    threads: int = 1,
) -> None:
    """``engine`` holds the run-wide ``training`` keys: seed, checkpoint_every and log_every."""
    set_cpu_threads(threads)
    device = select_device(compute["device"])
    config = baseline_config(settings)
    spec = build_spec(model_config)
    model = initial_model(model_config, spec, engine["seed"])
    convention = model.input_convention
    seed = engine["seed"]
    source = SegmentationDataset(
        source_list, TrainAugmentation(config.source_augmentation, convention), convention, seed=seed
    )
    target = SegmentationDataset(
        target_list,
        TrainAugmentation(config.target_augmentation, convention),
        convention,
        with_labels=False,
        seed=seed + 1,
    )
    log.info(
        "DA-SAC ABN baseline on %d source and %d target frames, %d iterations",
        len(source),
        len(target),
        config.iterations,
    )
    train_baseline(
        model,
        source,
        target,
        config,
        state_dir=Path(state_dir),
        device=device,
        fingerprint=settings_fingerprint(
            model_config, seed, settings, Path(source_list).read_text(), Path(target_list).read_text()
        ),
        engine=EngineSettings.from_config(engine, compute),
    )
    save_model(model_out, model.cpu(), spec)
    with atomic_path(log_out) as tmp:
        shutil.copyfile(Path(state_dir) / LOG_NAME, tmp)
    (Path(state_dir) / CHECKPOINT_NAME).unlink(missing_ok=True)
