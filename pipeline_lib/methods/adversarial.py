"""AdaptSegNet: adversarial adaptation in the output space (Tsai et al., CVPR 2018; spec B.4-B.6).

A fully-convolutional discriminator per output level (``FCDiscriminator``, spec B.2) learns to tell the
softmax maps of source images (label 0) from those of target images (label 1); the segmenter learns
the source labels and, through the frozen discriminator, to make target maps look like source ones
(paper Eq. 3-5). One iteration, in the reference's order (``train_gta2cityscapes_multi.py`` L264-395,
spec B.5):

1. zero every gradient, set the poly LRs (the shared ``Trainer`` does both);
2. freeze the discriminators (``requires_grad=False``), so the segmenter's losses leave no gradient in
   them;
3. source: ``L_seg = CE(out, y) + lambda_seg * CE(aux, y)``, logits upsampled to the label size;
4. target: ``L_adv = sum_k lambda_adv_k * l(D_k(softmax(target_k)), 0)``, backpropagated into G;
5. unfreeze; each D_k gets ``1/2 l(D_k(source_k), 0) + 1/2 l(D_k(target_k), 1)`` on **detached** maps,
   so no discriminator gradient reaches the segmenter (CPSL/ProDA's warm-up, ``discriminator:
   proda``, sums the two terms instead and uses its own discriminator);
6. step G (SGD), then D1, then D2 (Adam): the Trainer steps optimisers in the order they are given,
   and G's adversarial gradient therefore came from the pre-update discriminators.

``l`` is ``BCEWithLogits`` (``--gan Vanilla``) or the least-squares MSE on raw logits (``--gan LS``);
both average over the patch map. Level ``"aux"`` is the layer5 (layer3) output seen by D1, level
``"out"`` the main layer6 output seen by D2.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from pipeline_lib.data.datasets import SegmentationDataset
from pipeline_lib.data.transforms import AugmentationConfig
from pipeline_lib.engine.trainer import EngineSettings, Trainer
from pipeline_lib.losses import segmentation_cross_entropy, upsample_logits
from pipeline_lib.models.batchnorm import set_bn_affine_trainable, set_bn_mode
from pipeline_lib.models.discriminator import DISCRIMINATORS
from pipeline_lib.models.param_groups import ADAPTSEGNET_MULTIPLIERS, build_param_groups

GAN_OBJECTIVES: tuple[str, ...] = ("vanilla", "lsgan")
#: Domain labels of the discriminators (spec B.5): source 0, target 1; G pushes target towards 0.
SOURCE_LABEL = 0.0
TARGET_LABEL = 1.0
#: Output level -> the reference's name of its discriminator (snapshots ``_D1``/``_D2``).
DISCRIMINATOR_NAMES = {"aux": "discriminator1", "out": "discriminator2"}

Backward = Callable[[torch.Tensor], None]


@dataclass(frozen=True)
class AdversarialLosses:
    """Loss weights of one variant (spec B.6): ``lambda_adv`` maps a level ("aux"/"out") to its weight."""

    lambda_seg: float
    lambda_adv: dict[str, float]
    gan: str
    discriminator_loss_weight: float = 0.5  # of each domain's term: AdaptSegNet 1/2, ProDA 1

    def __post_init__(self) -> None:
        if self.gan not in GAN_OBJECTIVES:
            raise ValueError(f"unknown gan objective {self.gan!r}; valid: {', '.join(GAN_OBJECTIVES)}")
        unknown = set(self.lambda_adv) - set(DISCRIMINATOR_NAMES)
        if unknown:
            raise ValueError(f"unknown output levels {sorted(unknown)}; valid: {', '.join(DISCRIMINATOR_NAMES)}")

    @property
    def adversarial_levels(self) -> list[str]:
        """Levels that get a discriminator. A zero weight needs none: the reference still trains D1 at
        lambda_adv_target1 = 0, but that D then never influences the segmenter."""
        return [level for level, weight in self.lambda_adv.items() if weight > 0]


@dataclass(frozen=True)
class AdaptSegConfig:
    """One ``adaptseg`` variant: the shared section merged with its preset (config.yaml, spec B.4-B.6)."""

    iterations: int
    batch_size: int
    lr: float
    lr_d: float
    multi_level: bool
    lambda_seg: float
    lambda_adv_target1: float
    lambda_adv_target2: float
    gan: str
    accumulation_steps: int = 1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    poly_power: float = 0.9
    betas_d: tuple[float, float] = (0.9, 0.99)
    discriminator_width: int = 64
    discriminator: str = "adaptsegnet"  # adaptsegnet (spec B.2) | proda (CPSL's warm-up, spec cpsl_proda.md §6.12)
    bn_mode: str = "train"
    bn_affine_trainable: bool = False
    source_augmentation: AugmentationConfig = field(default_factory=AugmentationConfig)
    target_augmentation: AugmentationConfig = field(default_factory=AugmentationConfig)

    def __post_init__(self) -> None:
        object.__setattr__(self, "betas_d", tuple(self.betas_d))
        negative = [k for k in ("lambda_seg", "lambda_adv_target1", "lambda_adv_target2") if getattr(self, k) < 0]
        if negative:
            raise ValueError(f"adaptseg {', '.join(negative)} must be >= 0")
        if not self.multi_level and (self.lambda_seg > 0 or self.lambda_adv_target1 > 0):
            raise ValueError(
                "adaptseg lambda_seg and lambda_adv_target1 weight the auxiliary (layer5 on layer3) output, "
                "which only a multi_level model has: set multi_level: true or both weights to 0"
            )
        if self.discriminator not in DISCRIMINATORS:
            raise ValueError(f"unknown discriminator {self.discriminator!r}; valid: {', '.join(DISCRIMINATORS)}")
        self.losses()  # validates gan

    def losses(self) -> AdversarialLosses:
        return AdversarialLosses(
            lambda_seg=self.lambda_seg,
            lambda_adv={"aux": self.lambda_adv_target1, "out": self.lambda_adv_target2},
            gan=self.gan,
            discriminator_loss_weight=DISCRIMINATORS[self.discriminator][1],
        )


def gan_loss(logits: torch.Tensor, domain_label: float, objective: str) -> torch.Tensor:
    """Discriminator loss of patch ``logits`` against a constant domain label, averaged over the map.

    ``vanilla``: binary cross-entropy on logits (GAN, AdaptSegNet's default). ``lsgan``: mean squared
    error of the raw logits to the label (LS-GAN, ``--gan LS``); neither applies a sigmoid first.
    """
    target = torch.full_like(logits, domain_label, dtype=torch.float32)
    if objective == "vanilla":
        return F.binary_cross_entropy_with_logits(logits.float(), target)
    if objective == "lsgan":
        return F.mse_loss(logits.float(), target)
    raise ValueError(f"unknown gan objective {objective!r}; valid: {', '.join(GAN_OBJECTIVES)}")


def output_space_map(logits: torch.Tensor, size_hw: tuple[int, int]) -> torch.Tensor:
    """What a discriminator sees: the softmax of logits upsampled to the input resolution (spec B.2)."""
    return upsample_logits(logits, size_hw).float().softmax(dim=1)


@contextlib.contextmanager
def frozen(modules: Iterable[nn.Module]) -> Iterator[None]:
    """``requires_grad=False`` on every parameter inside the block (spec B.5 step 2), restored after."""
    params = [p for module in modules for p in module.parameters()]
    states = [p.requires_grad for p in params]
    for param in params:
        param.requires_grad_(False)
    try:
        yield
    finally:
        for param, state in zip(params, states, strict=True):
            param.requires_grad_(state)


def adaptation_step(
    model: nn.Module,
    discriminators: dict[str, nn.Module],
    losses: AdversarialLosses,
    source_images: torch.Tensor,
    source_labels: torch.Tensor,
    target_images: torch.Tensor,
    backward: Backward,
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
) -> dict[str, torch.Tensor]:
    """Steps 2-5 of one AdaptSegNet iteration: every backward in the reference order, no optimiser step.

    ``discriminators`` maps each level of ``losses.adversarial_levels`` to its D. ``backward`` is
    called once per loss (segmentation, adversarial, then per D its source and its target half), so
    gradients accumulate exactly as in the reference. Returns the losses to log, as detached tensors
    (no host sync; the Trainer copies them to the host once per log interval).
    """
    missing = [level for level in losses.adversarial_levels if level not in discriminators]
    if missing:
        raise ValueError(f"no discriminator given for output level(s) {missing}")
    with frozen(discriminators.values()):
        # Step 3: supervised loss on the source batch.
        with autocast():
            source_out = model(source_images)
        loss_seg = segmentation_cross_entropy(source_out["out"], source_labels)
        logs = {"loss_seg": loss_seg.detach()}
        if losses.lambda_seg > 0:
            loss_seg_aux = segmentation_cross_entropy(source_out["aux"], source_labels)
            logs["loss_seg_aux"] = loss_seg_aux.detach()
            loss_seg = loss_seg + losses.lambda_seg * loss_seg_aux
        backward(loss_seg)
        source_size = tuple(source_images.shape[-2:])
        source_maps = {level: output_space_map(source_out[level].detach(), source_size) for level in discriminators}
        del source_out

        # Step 4: fool the frozen discriminators with target outputs (label SOURCE_LABEL).
        target_maps: dict[str, torch.Tensor] = {}
        if discriminators:
            with autocast():
                target_out = model(target_images)
            target_size = tuple(target_images.shape[-2:])
            loss_adv = torch.zeros((), device=target_images.device)
            for level, discriminator in discriminators.items():
                target_maps[level] = output_space_map(target_out[level], target_size)
                with autocast():
                    patch_logits = discriminator(target_maps[level])
                level_loss = gan_loss(patch_logits, SOURCE_LABEL, losses.gan)
                logs[f"loss_adv_{level}"] = level_loss.detach()
                loss_adv = loss_adv + losses.lambda_adv[level] * level_loss
            backward(loss_adv)
            del target_out

    # Step 5: the discriminators learn source (0) vs target (1) on detached maps.
    for level, discriminator in discriminators.items():
        total = torch.zeros((), device=source_images.device)
        for maps, domain_label in ((source_maps[level], SOURCE_LABEL), (target_maps[level].detach(), TARGET_LABEL)):
            with autocast():
                patch_logits = discriminator(maps)
            term = losses.discriminator_loss_weight * gan_loss(patch_logits, domain_label, losses.gan)
            backward(term)
            total = total + term.detach()
        logs[f"loss_d_{level}"] = total
    return logs


def build_discriminators(
    losses: AdversarialLosses, num_classes: int, width: int, kind: str = "adaptsegnet"
) -> dict[str, nn.Module]:
    discriminator_class = DISCRIMINATORS[kind][0]
    return {level: discriminator_class(num_classes, width) for level in losses.adversarial_levels}


def train_adaptseg(
    model: nn.Module,
    source: SegmentationDataset,
    target: SegmentationDataset,
    config: AdaptSegConfig,
    *,
    num_classes: int,
    state_dir: Path,
    device: torch.device,
    fingerprint: str,
    engine: EngineSettings,
) -> tuple[nn.Module, dict[str, nn.Module]]:
    """Train ``model`` in place with AdaptSegNet (resuming from ``state_dir``); returns it and its Ds.

    Segmenter: SGD with momentum, backbone 1x / heads 10x LR, weight decay on every trainable parameter
    (spec B.4), BN affine frozen unless ``bn_affine_trainable``. Discriminators: Adam with ``lr_d`` and
    ``betas_d``. All LRs follow the poly schedule.
    """
    losses = config.losses()
    if config.multi_level != bool(getattr(model, "multi_level", False)):
        raise ValueError(
            f"adaptseg multi_level is {config.multi_level} but {type(model).__name__} was built with the opposite"
        )
    model.to(device)
    set_bn_affine_trainable(model, config.bn_affine_trainable)
    discriminators = {
        level: d.to(device)
        for level, d in build_discriminators(
            losses, num_classes, config.discriminator_width, config.discriminator
        ).items()
    }
    optimizers: dict[str, torch.optim.Optimizer] = {
        "segmentation": torch.optim.SGD(
            build_param_groups(model, config.lr, config.weight_decay, ADAPTSEGNET_MULTIPLIERS, decay_biases=True),
            lr=config.lr,
            momentum=config.momentum,
        )
    }
    base_lrs = {"segmentation": config.lr}
    for level, discriminator in discriminators.items():
        name = DISCRIMINATOR_NAMES[level]
        optimizers[name] = torch.optim.Adam(discriminator.parameters(), lr=config.lr_d, betas=config.betas_d)
        base_lrs[name] = config.lr_d
    trainer = Trainer(
        modules={"model": model, **{DISCRIMINATOR_NAMES[level]: d for level, d in discriminators.items()}},
        optimizers=optimizers,  # insertion order = step order: G, then D1, then D2 (spec B.5 step 6)
        base_lrs=base_lrs,
        config=engine.trainer_config(config.iterations, config.poly_power, config.accumulation_steps),
        state_dir=state_dir,
        device=device,
        fingerprint=fingerprint,
    )
    network = trainer.prepare(model)
    source_batches = trainer.batches(source, config.batch_size, engine.seed, engine.num_workers)
    # Another stream for the target order, so equally long lists are not drawn in lockstep.
    target_batches = trainer.batches(target, config.batch_size, engine.seed + 1, engine.num_workers)
    model.train()
    set_bn_mode(model, config.bn_mode)
    for discriminator in discriminators.values():
        discriminator.train()

    def step(iteration: int) -> dict[str, torch.Tensor]:
        source_batch = next(source_batches)
        target_batch = next(target_batches)
        return adaptation_step(
            network,
            discriminators,
            losses,
            trainer.to_device(source_batch["image"]),
            trainer.to_device(source_batch["label"]),
            trainer.to_device(target_batch["image"]),
            trainer.backward,
            trainer.autocast,
        )

    trainer.run(step)
    return model, discriminators
