"""Job: DA-SAC's augmentation-consistency training from the ABN baseline (spec A.6).

The student starts from the baseline's weights (the reference resumes from the ABN snapshot); the
target images are drawn with the importance-sampling weights of ``dasac_importance_weights``.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from pathlib import Path
from typing import Any

from pipeline_lib.atomic import atomic_path
from pipeline_lib.dasac.class_prior import ThresholdConfig
from pipeline_lib.dasac.importance_weights import read_weights, sampling_distributions
from pipeline_lib.dasac.target_views import ImportanceSampledViews, ViewConfig
from pipeline_lib.data.datasets import SegmentationDataset, read_file_list
from pipeline_lib.data.labels import CLASSES_16
from pipeline_lib.data.transforms import AugmentationConfig, TrainAugmentation
from pipeline_lib.engine.device import select_device, set_cpu_threads
from pipeline_lib.engine.trainer import CHECKPOINT_NAME, LOG_NAME, EngineSettings
from pipeline_lib.jobs.train_source import settings_fingerprint
from pipeline_lib.methods.dasac import SACConfig, train_sac
from pipeline_lib.models.serialization import load_model, save_model

log = logging.getLogger(__name__)


def sac_config(settings: dict[str, Any], backbone: dict[str, Any]) -> SACConfig:
    """``settings``: ``dasac.sac`` merged with the shared ``dasac`` keys; ``backbone``: the model's
    ``dasac.backbones`` entry (``lambda_target``, ``threshold_low``)."""
    settings = dict(settings)
    thresholds = ThresholdConfig(
        upper=settings.pop("threshold_upper"),
        lower=backbone["threshold_low"],
        beta=settings.pop("threshold_beta"),
        discount=settings.pop("threshold_discount"),
    )
    return SACConfig(
        **{
            **settings,
            "lambda_target": backbone["lambda_target"],
            "thresholds": thresholds,
            "views": ViewConfig(**settings["views"]),
            "source_augmentation": AugmentationConfig(**settings["source_augmentation"]),
        }
    )


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file: a retrained baseline must not resume a SAC checkpoint made from the old one."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def uniform_classes(source: str) -> tuple[int, ...]:
    """Classes sampled uniformly whatever their weights: the SYNTHIA protocol's ignored ones (A.5.2)."""
    return tuple(c for c in range(19) if c not in CLASSES_16) if source == "synthia" else ()


def run(
    source_list: str | Path,
    target_list: str | Path,
    baseline_model: str | Path,
    weights_file: str | Path,
    model_out: str | Path,
    log_out: str | Path,
    state_dir: str | Path,
    *,
    source: str,
    settings: dict[str, Any],
    backbone: dict[str, Any],
    uniform_prior: float,
    engine: dict[str, Any],
    compute: dict[str, Any],
    threads: int = 1,
) -> None:
    """``engine`` holds the run-wide ``training`` keys: seed, checkpoint_every and log_every."""
    set_cpu_threads(threads)
    device = select_device(compute["device"])
    config = sac_config(settings, backbone)
    model, spec = load_model(baseline_model)
    convention = model.input_convention
    seed = engine["seed"]
    source_frames = SegmentationDataset(
        source_list, TrainAugmentation(config.source_augmentation, convention), convention, seed=seed
    )
    names = read_file_list(target_list)["name"].tolist()
    cdfs = sampling_distributions(
        read_weights(weights_file, names), names, spec.num_classes, uniform_prior, uniform_classes(source)
    )
    target = ImportanceSampledViews(target_list, cdfs, config.views, len(source_frames), convention, seed=seed + 1)
    log.info(
        "DA-SAC from %s on %d source frames and %d target images (%d x %d views per step), %d iterations, "
        "target-loss weight %g, threshold floor %g",
        baseline_model,
        len(source_frames),
        len(names),
        config.target_groups,
        config.views.group_size,
        config.iterations,
        config.lambda_target,
        config.thresholds.lower,
    )
    train_sac(
        model,
        source_frames,
        target,
        config,
        num_classes=spec.num_classes,
        state_dir=Path(state_dir),
        device=device,
        fingerprint=settings_fingerprint(
            seed,
            settings,
            backbone,
            uniform_prior,
            source,
            Path(source_list).read_text(),
            Path(target_list).read_text(),
            Path(weights_file).read_text(),
            file_digest(baseline_model),
        ),
        engine=EngineSettings.from_config(engine, compute),
    )
    save_model(model_out, model.cpu(), spec)
    with atomic_path(log_out) as tmp:
        shutil.copyfile(Path(state_dir) / LOG_NAME, tmp)
    (Path(state_dir) / CHECKPOINT_NAME).unlink(missing_ok=True)
