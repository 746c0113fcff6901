"""Job: AdaptSegNet training of one variant, written as a udaflow model file and a CSV of losses.

Like the reference (spec B.1.2), the segmenter starts from the configured ImageNet weights (random
when ``model.imagenet_weights`` is null), not from the source-only model, and learns source
segmentation and target alignment jointly.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

from pipeline_lib.atomic import atomic_path
from pipeline_lib.data.datasets import SegmentationDataset
from pipeline_lib.data.labels import train_id_to_output_lut
from pipeline_lib.data.transforms import AugmentationConfig, TrainAugmentation
from pipeline_lib.engine import distributed
from pipeline_lib.engine.device import select_device, set_cpu_threads
from pipeline_lib.engine.trainer import CHECKPOINT_NAME, LOG_NAME, EngineSettings
from pipeline_lib.jobs.train_source import build_spec, initial_model, settings_fingerprint
from pipeline_lib.methods.adversarial import AdaptSegConfig, train_adaptseg
from pipeline_lib.models.serialization import save_model

log = logging.getLogger(__name__)


def adaptseg_config(settings: dict[str, Any]) -> AdaptSegConfig:
    """The variant's settings (shared ``adaptseg`` keys merged with its preset) as a typed config."""
    return AdaptSegConfig(
        **{
            **settings,
            "source_augmentation": AugmentationConfig(**settings["source_augmentation"]),
            "target_augmentation": AugmentationConfig(**settings["target_augmentation"]),
        }
    )


@distributed.data_parallel
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
    config = adaptseg_config(settings)
    spec = build_spec(model_config, multi_level=config.multi_level)
    if config.multi_level and spec.arch == "deeplabv2_vgg16":
        raise ValueError(
            "adaptseg: this variant has multi_level: true but model.arch deeplabv2_vgg16 is single-level "
            "(AdaptSegNet DeeplabVGG, spec B.1.5); use a single-level variant with VGG-16"
        )
    model = initial_model(model_config, spec, engine["seed"])  # also fixes the discriminators' init
    convention = model.input_convention
    seed = engine["seed"]
    source = SegmentationDataset(
        source_list, TrainAugmentation(config.source_augmentation, convention), convention, seed=seed,
        label_map=train_id_to_output_lut(spec.num_classes),
    )
    target = SegmentationDataset(
        target_list,
        TrainAugmentation(config.target_augmentation, convention),
        convention,
        with_labels=False,
        seed=seed + 1,  # target augmentations independent of the source ones
    )
    log.info(
        "AdaptSegNet (%s, %s-level, lambda_seg %g, lambda_adv %g/%g) on %d source and %d target frames, %d iterations",
        config.gan,
        "multi" if config.multi_level else "single",
        config.lambda_seg,
        config.lambda_adv_target1,
        config.lambda_adv_target2,
        len(source),
        len(target),
        config.iterations,
    )
    train_adaptseg(
        model,
        source,
        target,
        config,
        num_classes=spec.num_classes,
        state_dir=Path(state_dir),
        device=device,
        fingerprint=settings_fingerprint(
            model_config, seed, settings, Path(source_list).read_text(), Path(target_list).read_text()
        ),
        engine=EngineSettings.from_config(engine, compute),
    )
    if not distributed.world().is_main:
        return  # rank 0 of a data-parallel run writes the outputs
    save_model(model_out, model.cpu(), spec)
    with atomic_path(log_out) as tmp:
        shutil.copyfile(Path(state_dir) / LOG_NAME, tmp)
    # The model file is the result; the discriminators are not released by the reference either (B.8).
    (Path(state_dir) / CHECKPOINT_NAME).unlink(missing_ok=True)
