"""Job: CPSL stage 1, self-labelling with prototype rectification, from the warm-up model (spec §6)."""

from __future__ import annotations

import hashlib
import logging
import shutil
from pathlib import Path
from typing import Any

import torch

from pipeline_lib.atomic import atomic_path
from pipeline_lib.cpsl.prototypes import load_prototypes, save_prototypes
from pipeline_lib.cpsl.soft_label_store import SoftLabelStore
from pipeline_lib.cpsl.strong_augmentation import StrongAugmentationConfig
from pipeline_lib.cpsl.target_views import TargetViews, WeakAugmentationConfig
from pipeline_lib.data.datasets import SegmentationDataset
from pipeline_lib.data.labels import train_id_to_output_lut
from pipeline_lib.data.transforms import AugmentationConfig, TrainAugmentation
from pipeline_lib.engine.device import select_device, set_cpu_threads
from pipeline_lib.engine.trainer import CHECKPOINT_NAME, LOG_NAME, EngineSettings
from pipeline_lib.intermediate_files import load_probabilities
from pipeline_lib.jobs.train_source import settings_fingerprint
from pipeline_lib.methods.cpsl import stage1_config, train_stage1
from pipeline_lib.models.serialization import load_model, save_model

log = logging.getLogger(__name__)


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file: a training run resumes only with the same teacher, warm-up and labels on disk."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def datasets(
    source_list: str | Path,
    target_list: str | Path,
    settings: dict[str, Any],
    convention: str,
    seed: int,
    num_classes: int = 19,
    **target_extra: Any,
) -> tuple[SegmentationDataset, TargetViews]:
    """The source crops and the target views every CPSL training stage draws from; source labels as
    the ``num_classes`` network's outputs (the target's labels come from the network itself)."""
    source_aug = AugmentationConfig(**settings["source_augmentation"])
    source = SegmentationDataset(
        source_list, TrainAugmentation(source_aug, convention), convention, seed=seed,
        label_map=train_id_to_output_lut(num_classes),
    )
    target = TargetViews(
        target_list,
        WeakAugmentationConfig(**settings["weak_augmentation"]),
        convention,
        seed=seed + 1,  # target augmentations independent of the source ones
        strong=StrongAugmentationConfig(**settings["strong_augmentation"]),
        **target_extra,
    )
    return source, target


def run(
    warmup_model: str | Path,
    soft_labels: str | Path,
    prototypes_path: str | Path,
    class_distribution_path: str | Path,
    source_list: str | Path,
    target_list: str | Path,
    model_out: str | Path,
    prototypes_out: str | Path,
    log_out: str | Path,
    state_dir: str | Path,
    *,
    settings: dict[str, Any],
    engine: dict[str, Any],
    compute: dict[str, Any],
    threads: int = 1,
) -> None:
    set_cpu_threads(threads)
    device = select_device(compute["device"])
    config = stage1_config(settings)
    model, spec = load_model(warmup_model)
    prototypes = load_prototypes(prototypes_path)
    marginal = torch.from_numpy(load_probabilities(class_distribution_path, "class distribution"))
    seed = engine["seed"]
    source, target = datasets(
        source_list,
        target_list,
        settings,
        model.input_convention,
        seed,
        num_classes=spec.num_classes,
        full_image=True,
        soft_labels=SoftLabelStore(soft_labels),
    )
    log.info(
        "CPSL stage 1 on %d source and %d target frames, %d iterations, prototypes of %r (%d-d)",
        len(source),
        len(target),
        config.optimizer.iterations,
        model.prototype_feature,
        prototypes.shape[1],
    )
    _, state = train_stage1(
        model,
        source,
        target,
        prototypes,
        marginal,
        config,
        state_dir=Path(state_dir),
        device=device,
        fingerprint=settings_fingerprint(
            spec.__dict__,
            seed,
            settings,
            Path(source_list).read_text(),
            Path(target_list).read_text(),
            file_digest(warmup_model),
            file_digest(soft_labels),
            file_digest(prototypes_path),
            marginal.tolist(),
        ),
        engine=EngineSettings.from_config(engine, compute),
    )
    save_model(model_out, model.cpu(), spec)
    save_prototypes(prototypes_out, state.prototypes_ema)  # the learned EMA prototypes (released as prototypes_ema)
    with atomic_path(log_out) as tmp:
        shutil.copyfile(Path(state_dir) / LOG_NAME, tmp)
    (Path(state_dir) / CHECKPOINT_NAME).unlink(missing_ok=True)
