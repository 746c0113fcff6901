"""CPSL: class-balanced pixel-level self-labelling (Li et al., CVPR 2022), built on ProDA (Zhang et al., CVPR 2021).

Stage 1 (``train_stage1``, spec §6.4): starting from the warm-up model, every iteration

1. backpropagates the source CE (crop resolution);
2. with probability 0.5 pastes a 50 %-area source box into the target weak crops (CutMix);
3. runs the EMA teacher on the full target images and maps its features into each weak crop;
4. rectifies the fixed warm-up soft labels with the EMA prototypes (``rectification``) and pastes
   the source labels into the CutMix box;
5. trains the student on them with symmetric CE (0.1 CE + 1 RCE, 1/4 of the crop);
6. trains the learnable prototypes by Sinkhorn self-labelling with the class-distribution marginal
   (``self_labelling``, weight 0.1);
7. makes the student's strong-view prototype assignments match the teacher's weak-view ones
   (``consistency``, weight 5);

then, after the SGD step, updates the EMA model (parameters decay 0.999, buffers copied) and the EMA
prototypes (0.999). The contrastive term (weight 0.001, labels misaligned in the release, §6.9) is
left out.

Stages 2 and 3 (``train_distillation``, spec §7): a student learns, on the strong view, the teacher's
flip-averaged hard labels thresholded at 0.95 (CE) plus the teacher's soft predictions (KD), with the
source CE alongside; the teacher is frozen and in eval mode.
"""

from __future__ import annotations

import contextlib
import copy
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from pipeline_lib.cpsl.consistency import prototype_consistency
from pipeline_lib.cpsl.cutmix import draw_box, paste_images, paste_labels
from pipeline_lib.cpsl.distillation import distillation_loss
from pipeline_lib.cpsl.prototypes import ema_update
from pipeline_lib.cpsl.rectification import prototype_weights, rectify
from pipeline_lib.cpsl.self_labelling import FeatureQueue, SelfLabellingConfig, sample_positions, self_labelling_loss
from pipeline_lib.cpsl.strong_augmentation import replay
from pipeline_lib.cpsl.symmetric_ce import symmetric_cross_entropy
from pipeline_lib.cpsl.target_views import QUARTER, TargetViews, full_to_weak
from pipeline_lib.data.datasets import SegmentationDataset
from pipeline_lib.data.labels import IGNORE_INDEX
from pipeline_lib.engine.trainer import EngineSettings, Trainer
from pipeline_lib.losses import segmentation_cross_entropy, upsample_logits
from pipeline_lib.models.param_groups import LrMultipliers, build_param_groups

log = logging.getLogger(__name__)

TEACHER_BN_MODES = ("train", "eval")
Backward = Callable[[torch.Tensor], None]
Autocast = Callable[[], contextlib.AbstractContextManager]


@dataclass(frozen=True)
class OptimizerConfig:
    """SGD with poly decay; the head (``layer5``, ``bn_pretrain``) and the prototypes at ``head_lr_mult``.

    Reference stage 1: lr 1e-4, head and prototypes x5; stages 2/3 (``--finetune``): 6e-4, head x10;
    momentum 0.9 and weight decay 2e-4 on every parameter, prototypes included (spec §6.1, §7.4).
    """

    iterations: int
    lr: float
    head_lr_mult: float
    batch_size: int = 4
    accumulation_steps: int = 1
    momentum: float = 0.9
    weight_decay: float = 2e-4
    poly_power: float = 0.9

    def sgd(self, model: nn.Module, extra: list[torch.Tensor] = ()) -> torch.optim.SGD:
        multipliers = LrMultipliers(1.0, 1.0, self.head_lr_mult, self.head_lr_mult)
        groups = build_param_groups(model, self.lr, self.weight_decay, multipliers, decay_biases=True)
        if extra:
            lr = self.lr * self.head_lr_mult
            groups.append(
                {
                    "name": "prototypes",
                    "params": list(extra),
                    "lr": lr,
                    "initial_lr": lr,
                    "lr_mult": self.head_lr_mult,
                    "weight_decay": self.weight_decay,
                }
            )
        return torch.optim.SGD(groups, lr=self.lr, momentum=self.momentum)


@dataclass(frozen=True)
class Stage1Config:
    """Stage-1 loss weights and schedules (spec §6.1); reference values are the defaults."""

    optimizer: OptimizerConfig
    self_labelling: SelfLabellingConfig = SelfLabellingConfig()
    sl_lambda: float = 0.1
    consistency_weight: float = 5.0
    ce_weight: float = 0.1
    rce_weight: float = 1.0
    train_threshold: float = 0.0
    cutmix_prob: float = 0.5
    cutmix_area: float = 0.5
    ema_decay: float = 0.999
    prototype_ema_decay: float = 0.999
    teacher_bn: str = "train"

    def __post_init__(self) -> None:
        if self.teacher_bn not in TEACHER_BN_MODES:
            raise ValueError(f"cpsl stage1 teacher_bn must be one of {TEACHER_BN_MODES}, got {self.teacher_bn!r}")


@dataclass(frozen=True)
class DistillationConfig:
    """Stages 2/3 (spec §7.4): CE on thresholded pseudo-labels + ``kd_weight`` x KD, on the strong view."""

    optimizer: OptimizerConfig
    kd_weight: float = 1.0
    reference_kl_quirk: bool = False


class CPSLState(nn.Module):
    """What stage 1 learns besides the network: prototypes, their EMA, the two Sinkhorn queues."""

    def __init__(self, prototypes: torch.Tensor, queue_length: int) -> None:
        super().__init__()
        initial = F.normalize(prototypes.float(), dim=1)  # train.py L43-51: L2-normalised init
        absent = torch.nonzero(prototypes.abs().sum(dim=1) == 0).flatten()
        if len(absent):
            # A class the warm-up never predicted has a zero prototype, whose normalisation has an
            # unbounded gradient; it starts from a random unit vector instead (as SwAV's prototypes).
            log.warning("classes %s have no initial prototype: random unit vectors instead", absent.tolist())
            random = torch.randn(len(absent), prototypes.shape[1], generator=torch.Generator().manual_seed(0))
            initial[absent] = F.normalize(random, dim=1)
        self.prototypes = nn.Parameter(initial.clone())
        self.register_buffer("prototypes_ema", initial.clone())
        self.feature_queue = FeatureQueue(queue_length, prototypes.shape[1])
        self.output_queue = FeatureQueue(queue_length, prototypes.shape[0])


def _source_loss(model: nn.Module, batch: dict, device: torch.device, autocast: Autocast) -> torch.Tensor:
    with autocast():
        out = model(batch["image"].to(device, non_blocking=True))["out"]
    return segmentation_cross_entropy(out, batch["label"].to(device, non_blocking=True))


def stage1_step(
    student: nn.Module,
    teacher: nn.Module,
    state: CPSLState,
    marginal: torch.Tensor,
    config: Stage1Config,
    source: dict,
    target: dict,
    backward: Backward,
    device: torch.device,
    autocast: Autocast = contextlib.nullcontext,
) -> dict[str, float]:
    """One stage-1 micro-batch (steps 1-13 of spec §6.4): every backward, no optimiser step."""
    key = student.prototype_feature
    loss_source = _source_loss(student, source, device, autocast)
    backward(loss_source)

    target_images = target["image"].to(device, non_blocking=True)
    box = None
    if torch.rand(()).item() < config.cutmix_prob:
        if target_images.shape[-2:] != source["image"].shape[-2:]:
            raise ValueError("CutMix needs source and target crops of one size (cpsl source/weak augmentation crop)")
        box = draw_box(tuple(target_images.shape[-2:]), config.cutmix_area)
        target_images = paste_images(target_images, source["image"].to(device), box)
    soft = target["soft_label"].to(device, non_blocking=True)
    quarter = tuple(soft.shape[-2:])

    with torch.no_grad(), autocast():
        teacher_out = teacher(target["full_image"].to(device, non_blocking=True))
    full_features = teacher_out[key].float()
    full_logits = teacher_out["out"].float()
    weak_features = full_to_weak(
        full_features, target["weak_scaled_hw"], target["weak_top_left"], target["weak_flip"], quarter
    )

    with autocast():
        student_out = student(target_images)
    student_logits = upsample_logits(student_out["out"].float(), quarter)

    with torch.no_grad():
        weights = prototype_weights(weak_features, state.prototypes_ema, config.self_labelling.temperature)
        labels = rectify(weights, soft, config.train_threshold)
        labels[~target["weak_valid"].to(device)] = IGNORE_INDEX
        if box is not None:
            labels = paste_labels(labels, source["label"].to(device), box, QUARTER)
    loss_target = symmetric_cross_entropy(student_logits, labels, config.ce_weight, config.rce_weight)

    samples = config.self_labelling.feature_samples
    positions = sample_positions(full_features.shape[-2] * full_features.shape[-1], samples, device)
    sampled_features = F.normalize(full_features.flatten(2)[:, :, positions].transpose(1, 2), dim=2)
    sampled_logits = F.normalize(full_logits.flatten(2)[:, :, positions].transpose(1, 2), dim=2)
    loss_sl = self_labelling_loss(
        sampled_features,
        sampled_logits,
        state.prototypes,
        state.feature_queue,
        state.output_queue,
        marginal,
        config.self_labelling,
    )

    with autocast():
        strong_out = student(target["strong_image"].to(device, non_blocking=True))
    strong_features = upsample_logits(strong_out[key].float(), quarter)
    loss_consistency = prototype_consistency(
        weak_features,
        strong_features,
        state.prototypes_ema,
        target["strong"],
        QUARTER,
        config.self_labelling.temperature,
    )
    total = loss_target + config.sl_lambda * loss_sl + config.consistency_weight * loss_consistency
    backward(total)
    return {
        "loss_source": loss_source.item(),
        "loss_target": loss_target.item(),
        "loss_sl": loss_sl.item(),
        "loss_consistency": loss_consistency.item(),
        "cutmix": float(box is not None),
        "ignored": (labels == IGNORE_INDEX).float().mean().item(),
    }


@torch.no_grad()
def ema_model_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """Parameters: ``ema <- decay * ema + (1 - decay) * model``; buffers (BN statistics) copied (L354-358)."""
    for ema_param, param in zip(ema.parameters(), model.parameters(), strict=True):
        ema_param.mul_(decay).add_(param.detach(), alpha=1.0 - decay)
    for ema_buffer, buffer in zip(ema.buffers(), model.buffers(), strict=True):
        ema_buffer.copy_(buffer)


def _set_teacher_mode(teacher: nn.Module, bn_mode: str) -> None:
    """``train``: the reference's EMA teacher is never switched to eval (QUIRK, spec §6.2): batch-statistic
    BN over the full images and active dropout. ``eval``: running statistics, no dropout."""
    teacher.train(bn_mode == "train")
    for param in teacher.parameters():
        param.requires_grad_(False)


def _batches(
    trainer: Trainer, source: SegmentationDataset, target: TargetViews, batch: int, engine: EngineSettings
) -> Iterator:
    source_batches = trainer.batches(source, batch, engine.seed, engine.num_workers)
    target_batches = trainer.batches(target, batch, engine.seed + 1, engine.num_workers)
    return zip(source_batches, target_batches, strict=True)


def train_stage1(
    student: nn.Module,
    source: SegmentationDataset,
    target: TargetViews,
    prototypes: torch.Tensor,
    class_distribution: torch.Tensor,
    config: Stage1Config,
    *,
    state_dir: Path,
    device: torch.device,
    fingerprint: str,
    engine: EngineSettings,
) -> tuple[nn.Module, CPSLState]:
    """Train ``student`` (the warm-up model) in place with CPSL stage 1; returns it and the learned state."""
    if prototypes.shape[0] != class_distribution.shape[0]:
        raise ValueError(f"{prototypes.shape[0]} prototypes but {class_distribution.shape[0]} classes in the marginal")
    student.to(device)
    teacher = copy.deepcopy(student)
    state = CPSLState(prototypes, config.self_labelling.queue_length).to(device)
    marginal = class_distribution.double().to(device)
    optim = config.optimizer
    trainer = Trainer(
        modules={"model": student, "ema_model": teacher, "cpsl": state},
        optimizers={"segmentation": optim.sgd(student, [state.prototypes])},
        base_lrs={"segmentation": optim.lr},
        config=engine.trainer_config(optim.iterations, optim.poly_power, optim.accumulation_steps),
        state_dir=state_dir,
        device=device,
        fingerprint=fingerprint,
    )
    batches = _batches(trainer, source, target, optim.batch_size, engine)
    student.train()
    _set_teacher_mode(teacher, config.teacher_bn)

    def step(iteration: int) -> dict[str, float]:
        source_batch, target_batch = next(batches)
        return stage1_step(
            student,
            teacher,
            state,
            marginal,
            config,
            source_batch,
            target_batch,
            trainer.backward,
            device,
            trainer.autocast,
        )

    def after_step(iteration: int) -> None:
        ema_model_update(teacher, student, config.ema_decay)
        ema_update(state.prototypes_ema, state.prototypes, config.prototype_ema_decay)

    trainer.run(step, after_step)
    return student, state


def distillation_step(
    student: nn.Module,
    teacher: nn.Module,
    config: DistillationConfig,
    source: dict,
    target: dict,
    backward: Backward,
    device: torch.device,
    autocast: Autocast = contextlib.nullcontext,
) -> dict[str, float]:
    """One stage-2/3 micro-batch (spec §7.3): source CE, then CE + KD on the strong view at 1/4 of the crop."""
    loss_source = _source_loss(student, source, device, autocast)
    backward(loss_source)
    # Nearest x0.25 (F.interpolate(scale_factor=0.25) reads pixel 4i), then into the strong geometry.
    labels = target["pseudo_label"][:, ::QUARTER, ::QUARTER]
    labels, _ = replay(labels[:, None].float(), target["strong"], QUARTER, float(IGNORE_INDEX))
    labels = labels[:, 0].long().to(device)
    quarter = tuple(labels.shape[-2:])
    strong = target["strong_image"].to(device, non_blocking=True)
    with autocast():
        student_logits = upsample_logits(student(strong)["out"].float(), quarter)
    with torch.no_grad(), autocast():
        teacher_logits = upsample_logits(teacher(strong)["out"].float(), quarter)
    loss_ce = segmentation_cross_entropy(student_logits, labels)
    loss_kd = distillation_loss(student_logits, teacher_logits, config.reference_kl_quirk)
    backward(loss_ce + config.kd_weight * loss_kd)
    return {
        "loss_source": loss_source.item(),
        "loss_pseudo": loss_ce.item(),
        "loss_kd": loss_kd.item(),
        "labelled": (labels != IGNORE_INDEX).float().mean().item(),
    }


def train_distillation(
    student: nn.Module,
    teacher: nn.Module,
    source: SegmentationDataset,
    target: TargetViews,
    config: DistillationConfig,
    *,
    state_dir: Path,
    device: torch.device,
    fingerprint: str,
    engine: EngineSettings,
) -> nn.Module:
    """Train ``student`` in place from ``teacher``'s pseudo-labels (in ``target``) and predictions."""
    student.to(device)
    teacher.to(device).eval()
    for param in teacher.parameters():
        param.requires_grad_(False)
    optim = config.optimizer
    trainer = Trainer(
        modules={"model": student},
        optimizers={"segmentation": optim.sgd(student)},
        base_lrs={"segmentation": optim.lr},
        config=engine.trainer_config(optim.iterations, optim.poly_power, optim.accumulation_steps),
        state_dir=state_dir,
        device=device,
        fingerprint=fingerprint,
    )
    batches = _batches(trainer, source, target, optim.batch_size, engine)
    student.train()

    def step(iteration: int) -> dict[str, float]:
        source_batch, target_batch = next(batches)
        return distillation_step(
            student, teacher, config, source_batch, target_batch, trainer.backward, device, trainer.autocast
        )

    trainer.run(step)
    return student


def optimizer_config(section: dict, stage: dict) -> OptimizerConfig:
    """The shared ``cpsl`` keys (batch, accumulation, momentum, weight decay, poly) with a stage's LR and length."""
    return OptimizerConfig(
        iterations=stage["iterations"],
        lr=stage["lr"],
        head_lr_mult=stage["head_lr_mult"],
        batch_size=section["batch_size"],
        accumulation_steps=section["accumulation_steps"],
        momentum=section["momentum"],
        weight_decay=section["weight_decay"],
        poly_power=section["poly_power"],
    )


def stage1_config(section: dict) -> Stage1Config:
    """``Stage1Config`` from the config's ``cpsl`` section."""
    stage = section["stage1"]
    return Stage1Config(
        optimizer=optimizer_config(section, stage),
        self_labelling=SelfLabellingConfig(
            temperature=stage["temperature"],
            epsilon=stage["epsilon"],
            sinkhorn_iterations=stage["sinkhorn_iterations"],
            feature_samples=stage["feature_samples"],
            queue_length=stage["queue_length"],
            queue_unnormalized_prototypes=stage["queue_unnormalized_prototypes"],
        ),
        **{
            key: stage[key]
            for key in (
                "sl_lambda",
                "consistency_weight",
                "ce_weight",
                "rce_weight",
                "train_threshold",
                "cutmix_prob",
                "cutmix_area",
                "ema_decay",
                "prototype_ema_decay",
                "teacher_bn",
            )
        },
    )


def distillation_config(section: dict) -> DistillationConfig:
    """``DistillationConfig`` (stages 2 and 3 share it, as the reference's commands do) from ``cpsl``."""
    stage = section["distillation"]
    return DistillationConfig(
        optimizer=optimizer_config(section, stage),
        kd_weight=stage["kd_weight"],
        reference_kl_quirk=stage["reference_kl_quirk"],
    )
