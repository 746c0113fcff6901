"""DA-SAC training: the ABN baseline and self-supervised augmentation consistency (spec A.4, A.6).

**ABN baseline** (``train.py`` L266-298 with ``MODEL.BASELINE True``): supervised CE on a source batch,
then a target batch forwarded without gradient with BN still in train mode, so the BN running
statistics become a mixture of both domains (A.4.1). The target CE the reference logs needs target
labels and is left out.

**SAC** (``train.py`` L252-298, ``models/sac.py`` L315-378), one iteration:

1. source CE through the student (BN statistics frozen at the ABN values, gamma/beta trained), backward;
2. the student on the noisy target views;
3. at the scheduled iterations, the momentum teacher update (the first one copies the student and
   resets the class prior);
4. the teacher on the clean views; its softmax updates the class prior and is fused over the views
   (``view_fusion``);
5. pseudo-labels with the adaptive per-class thresholds (``class_prior``);
6. ``lambda_target`` times the confidence-weighted focal CE (``focal``), backward; the shared
   trainer then steps SGD once for both losses.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from pipeline_lib.dasac.class_prior import ClassPrior, ThresholdConfig, pseudo_labels
from pipeline_lib.dasac.focal import confidence_weighted_focal_loss
from pipeline_lib.dasac.target_views import ViewConfig
from pipeline_lib.dasac.teacher import MomentumTeacher, teacher_updates_at
from pipeline_lib.dasac.view_fusion import fuse_views
from pipeline_lib.data.datasets import SegmentationDataset, iterations_per_epoch
from pipeline_lib.data.labels import IGNORE_INDEX
from pipeline_lib.data.transforms import AugmentationConfig
from pipeline_lib.engine.trainer import EngineSettings, Trainer
from pipeline_lib.losses import segmentation_cross_entropy, upsample_logits
from pipeline_lib.models.batchnorm import set_bn_mode
from pipeline_lib.models.param_groups import build_param_groups

Backward = Callable[[torch.Tensor], None]
Autocast = Callable[[], contextlib.AbstractContextManager]
#: How the source CE is averaged: over every pixel, ignored ones counting 0 (the reference's
#: ``reduction="none"`` + ``.mean()``, A.9 item 2), or over labelled pixels only.
CE_NORMALIZATIONS: tuple[str, ...] = ("all_pixels", "labelled_pixels")


def check_ce_normalization(value: str) -> None:
    if value not in CE_NORMALIZATIONS:
        raise ValueError(f"dasac.ce_normalization must be one of {CE_NORMALIZATIONS}, got {value!r}")


def source_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, normalization: str) -> torch.Tensor:
    """CE of stride-8 logits upsampled (align_corners=True) to the label size, ignoring 255."""
    if normalization == "labelled_pixels":
        return segmentation_cross_entropy(logits, labels)
    if normalization == "all_pixels":
        logits = upsample_logits(logits, tuple(labels.shape[-2:]))
        return F.cross_entropy(logits.float(), labels, ignore_index=IGNORE_INDEX, reduction="none").mean()
    raise ValueError(f"unknown ce_normalization {normalization!r}; valid: {', '.join(CE_NORMALIZATIONS)}")


@dataclass(frozen=True)
class BaselineConfig:
    """The ABN stage (config ``dasac.baseline`` plus the shared ``dasac`` keys)."""

    iterations: int
    batch_size: int
    target_batch_size: int
    lr: float
    accumulation_steps: int = 1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    poly_power: float = 0.0
    ce_normalization: str = "all_pixels"
    source_augmentation: AugmentationConfig = field(default_factory=AugmentationConfig)
    target_augmentation: AugmentationConfig = field(default_factory=AugmentationConfig)

    def __post_init__(self) -> None:
        check_ce_normalization(self.ce_normalization)


@dataclass(frozen=True)
class SACConfig:
    """The SAC stage (config ``dasac.sac``, the shared keys and the model's ``dasac.backbones`` entry)."""

    iterations: int
    batch_size: int
    target_groups: int
    lr: float
    lambda_target: float
    accumulation_steps: int = 1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    poly_power: float = 0.0
    ce_normalization: str = "all_pixels"
    teacher_momentum: float = 0.99
    teacher_update_every: int = 100
    prior_momentum: float = 0.99
    focal_power: float = 3.0
    reference_views_per_device: int | None = None
    thresholds: ThresholdConfig = field(default_factory=ThresholdConfig)
    views: ViewConfig = field(default_factory=ViewConfig)
    source_augmentation: AugmentationConfig = field(default_factory=AugmentationConfig)

    def __post_init__(self) -> None:
        check_ce_normalization(self.ce_normalization)
        if self.teacher_update_every < 1:
            raise ValueError(f"dasac.sac.teacher_update_every must be >= 1, got {self.teacher_update_every}")


def abn_step(
    model: nn.Module,
    source_images: torch.Tensor,
    source_labels: torch.Tensor,
    target_images: torch.Tensor,
    backward: Backward,
    ce_normalization: str = "all_pixels",
    autocast: Autocast = contextlib.nullcontext,
) -> dict[str, float]:
    """One ABN iteration without the optimiser step: source CE backward, then a gradient-free target
    forward in BN-train mode that moves the running statistics towards the target (A.4.1).

    The reference steps SGD between the two passes; the shared trainer steps after them, so the
    target statistics are taken with the weights of one step earlier (docs/upstream-differences.md).
    """
    with autocast():
        logits = model(source_images)["out"]
    loss = source_cross_entropy(logits, source_labels, ce_normalization)
    backward(loss)
    with torch.no_grad(), autocast():
        model(target_images)
    return {"loss_source": loss.item()}


def sac_step(
    student: nn.Module,
    teacher: MomentumTeacher,
    prior: ClassPrior,
    source_images: torch.Tensor,
    source_labels: torch.Tensor,
    target: dict[str, torch.Tensor],
    config: SACConfig,
    backward: Backward,
    update_teacher: bool,
    autocast: Autocast = contextlib.nullcontext,
) -> dict[str, float]:
    """One SAC iteration without the optimiser step; ``target`` holds the batch of ``target_views``
    tensors, (B, T, ...) each. Returns the numbers to log."""
    with autocast():
        source_logits = student(source_images)["out"]
    loss_source = source_cross_entropy(source_logits, source_labels, config.ce_normalization)
    backward(loss_source)
    del source_logits

    noisy, clean = target["student"].flatten(0, 1), target["teacher"].flatten(0, 1)
    padding = target["padding"].flatten(0, 1)
    size_hw = tuple(noisy.shape[-2:])
    with autocast():
        student_logits = upsample_logits(student(noisy)["out"], size_hw)
    logs: dict[str, float] = {}
    if update_teacher and teacher.update(student):
        prior.reset(config.thresholds.beta)
    with torch.no_grad(), autocast():
        teacher_logits = teacher(clean)["out"]
    with torch.no_grad():
        probabilities = upsample_logits(teacher_logits.float(), size_hw).softmax(dim=1)
        prior.update(probabilities, config.thresholds.beta)
        affine, affine_inv = target["affine"].flatten(0, 1), target["affine_inv"].flatten(0, 1)
        fused = fuse_views(probabilities, config.views.group_size, affine, affine_inv, padding)
        labels, confidence = pseudo_labels(fused, prior.values, config.thresholds, padding)
    loss_target = confidence_weighted_focal_loss(
        student_logits, labels, confidence, prior.values, config.focal_power, config.reference_views_per_device
    )
    backward(config.lambda_target * loss_target)
    logs.update(
        loss_source=loss_source.item(),
        loss_target=loss_target.item(),
        pseudo_labelled=(labels != IGNORE_INDEX).float().mean().item(),
        teacher_updated=float(update_teacher),
    )
    return logs


def _sgd(model: nn.Module, lr: float, momentum: float, weight_decay: float) -> torch.optim.SGD:
    """SGD, momentum 0.9, DA-SAC's 1/2/10/20 LR multipliers, decay on weights only (A.3.1, A.4.3)."""
    return torch.optim.SGD(build_param_groups(model, lr, weight_decay), lr=lr, momentum=momentum)


def train_baseline(
    model: nn.Module,
    source: SegmentationDataset,
    target: SegmentationDataset,
    config: BaselineConfig,
    *,
    state_dir: Path,
    device: torch.device,
    fingerprint: str,
    engine: EngineSettings,
) -> nn.Module:
    """Train ``model`` in place as the ABN baseline (resuming from ``state_dir``)."""
    model.to(device)
    trainer = Trainer(
        modules={"model": model},
        optimizers={"segmentation": _sgd(model, config.lr, config.momentum, config.weight_decay)},
        base_lrs={"segmentation": config.lr},
        config=engine.trainer_config(config.iterations, config.poly_power, config.accumulation_steps),
        state_dir=state_dir,
        device=device,
        fingerprint=fingerprint,
    )
    source_batches = trainer.batches(source, config.batch_size, engine.seed, engine.num_workers)
    target_batches = trainer.batches(target, config.target_batch_size, engine.seed + 1, engine.num_workers)
    model.train()
    set_bn_mode(model, "train")

    def step(iteration: int) -> dict[str, float]:
        source_batch, target_batch = next(source_batches), next(target_batches)
        return abn_step(
            model,
            source_batch["image"].to(device, non_blocking=True),
            source_batch["label"].to(device, non_blocking=True),
            target_batch["image"].to(device, non_blocking=True),
            trainer.backward,
            config.ce_normalization,
            trainer.autocast,
        )

    trainer.run(step)
    return model


def train_sac(
    model: nn.Module,
    source: SegmentationDataset,
    target: Dataset,
    config: SACConfig,
    *,
    num_classes: int,
    state_dir: Path,
    device: torch.device,
    fingerprint: str,
    engine: EngineSettings,
) -> tuple[nn.Module, MomentumTeacher, ClassPrior]:
    """Train the student ``model`` (the ABN baseline's weights) in place with SAC.

    ``target`` is an ``ImportanceSampledViews``. Teacher and class prior are checkpointed with the
    student, so a resumed run continues with the same teacher. Returns student, teacher and prior.

    With ``accumulation_steps`` A, each SGD step sees A micro-batches (``batch_size`` source images and
    ``target_groups`` groups each): the teacher updates at most once per step (at its first
    micro-batch), and the class prior, an EMA updated per micro-batch, uses momentum m^(1/A), so that it
    forgets at the reference's rate per step of the whole batch.
    """
    accumulation = config.accumulation_steps
    model.to(device)
    teacher = MomentumTeacher(model, config.teacher_momentum).to(device)
    prior = ClassPrior(num_classes, config.prior_momentum ** (1 / accumulation)).to(device)
    trainer = Trainer(
        modules={"model": model, "teacher": teacher, "class_prior": prior},
        optimizers={"segmentation": _sgd(model, config.lr, config.momentum, config.weight_decay)},
        base_lrs={"segmentation": config.lr},
        config=engine.trainer_config(config.iterations, config.poly_power, accumulation),
        state_dir=state_dir,
        device=device,
        fingerprint=fingerprint,
    )
    epoch_length = iterations_per_epoch(len(source), config.batch_size * accumulation)
    micro_steps = itertools.count()  # a resumed run restarts at a step boundary, so micro-step 0 of a step
    source_batches = trainer.batches(source, config.batch_size, engine.seed, engine.num_workers)
    target_batches = trainer.batches(target, config.target_groups, engine.seed + 1, engine.num_workers)
    model.train()
    set_bn_mode(model, "frozen")  # A.3.4: statistics fixed at the ABN values, gamma/beta trained
    teacher.train()

    def step(iteration: int) -> dict[str, float]:
        source_batch, target_batch = next(source_batches), next(target_batches)
        tensors = {
            key: target_batch[key].to(device, non_blocking=True)
            for key in ("student", "teacher", "padding", "affine", "affine_inv")
        }
        first_micro_batch = next(micro_steps) % accumulation == 0
        update_teacher = teacher_updates_at(iteration, config.teacher_update_every, epoch_length)
        logs = sac_step(
            model,
            teacher,
            prior,
            source_batch["image"].to(device, non_blocking=True),
            source_batch["label"].to(device, non_blocking=True),
            tensors,
            config,
            trainer.backward,
            first_micro_batch and update_teacher,
            trainer.autocast,
        )
        # The trainer logs the mean over a step's micro-batches: scaled, this is the step's update count.
        return {**logs, "teacher_updated": logs["teacher_updated"] * accumulation}

    trainer.run(step)
    return model, teacher, prior
