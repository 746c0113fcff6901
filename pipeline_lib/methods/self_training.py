"""Self-training fine-tune of one round (CBST ``solve_ST.py --phase train``, ``shared/spec/cbst_mlsl.md`` §3, §7).

The round-(r-1) model is trained on the union of the round's source subset (ground truth) and every
target image with its pseudo-label PNG, shuffled together (§2.4: batches are not stratified, source
and target cells weigh the same). The LR is constant within the round (poly power 0), BN statistics
are frozen with trainable affine parameters and biases get 2× LR without weight decay (§3.2). The
segmentation loss is CE with ignore, or MLSL's OHEM (§7.2); with PWL the presence branch adds
``pwl_weight`` × the summed per-image BCE (§7.3).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from pipeline_lib.data.datasets import SegmentationDataset
from pipeline_lib.engine.trainer import EngineSettings, Trainer
from pipeline_lib.losses import segmentation_cross_entropy
from pipeline_lib.models.batchnorm import set_bn_mode
from pipeline_lib.models.param_groups import CBST_MULTIPLIERS, build_param_groups
from pipeline_lib.selftrain.mlsl import PresenceHead, ohem_cross_entropy, presence_loss, weak_labels

LOSS_RESOLUTIONS: tuple[str, ...] = ("label", "stride8")


@dataclass(frozen=True)
class FineTuneConfig:
    iterations: int
    batch_size: int
    lr: float  # this round's LR (already divided by sqrt(2) per earlier round)
    momentum: float = 0.9
    weight_decay: float = 5e-4
    bn_mode: str = "frozen"
    loss_resolution: str = "stride8"  # stride8 = CBST's point-sampled labels (§3.1 step 6); label = upsampled logits
    ohem: tuple[float, int] | None = None  # (thresh, min_kept) or None for plain CE
    pwl_weight: float = 0.0  # > 0 enables the PWL presence branch
    pwl_presence_factor: float = 0.0225


def round_iterations(iterations: int, epochs: int | None, num_samples: int, batch_size: int) -> int:
    """SGD steps of one round: ``iterations``, or ``epochs`` passes over the round's training list.

    CBST's ``solve_AO.py`` trains each round for ``--epoch-per-round`` epochs (2) of the source subset
    plus every target image, ``num_samples // batch_size`` full batches each, so the step count grows
    with the source portion (1252 ... 1566 per round with the README's GTA5 settings, spec §2.2).
    """
    if epochs is None:
        return iterations
    steps = epochs * (num_samples // batch_size)
    if steps < 1:
        raise ValueError(f"{num_samples} training frames give no full batch of {batch_size}")
    return steps


def point_sampled(labels: torch.Tensor) -> torch.Tensor:
    """Labels sampled at stride 8 from offset 4, the grid CBST computes its loss on (§3.1 step 6)."""
    return labels[..., 4::8, 4::8]


def loss_grid(logits: torch.Tensor, labels: torch.Tensor, resolution: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The logits and labels a round's loss compares.

    ``stride8`` (CBST ``issegm/data.py`` L337-339, the default): the network's stride-8 logits against
    labels point-sampled at offset 4, so every cell weighs one pixel and OHEM's ``min_kept`` counts
    cells as MLSL's does; logits are resized only when the grids differ (crop not a multiple of 8).
    ``label``: the labels as they are; the loss upsamples the logits to them (~64x more terms).
    """
    if resolution not in LOSS_RESOLUTIONS:
        raise ValueError(f"unknown loss_resolution {resolution!r}; valid: {', '.join(LOSS_RESOLUTIONS)}")
    if resolution == "label":
        return logits, labels
    labels = point_sampled(labels)
    if tuple(logits.shape[-2:]) != tuple(labels.shape[-2:]):
        logits = F.interpolate(logits, size=tuple(labels.shape[-2:]), mode="bilinear", align_corners=True)
    return logits, labels


def fine_tune(
    model: nn.Module,
    presence_head: PresenceHead | None,
    dataset: SegmentationDataset,
    config: FineTuneConfig,
    *,
    state_dir: Path,
    device: torch.device,
    fingerprint: str,
    engine: EngineSettings,
) -> None:
    """Train ``model`` (and ``presence_head`` when PWL is on) in place for one round."""
    if config.loss_resolution not in LOSS_RESOLUTIONS:
        raise ValueError(f"unknown loss_resolution {config.loss_resolution!r}; valid: {', '.join(LOSS_RESOLUTIONS)}")
    if (presence_head is None) != (config.pwl_weight <= 0):
        raise ValueError("a presence head is needed exactly when pwl_weight > 0")
    model.to(device)
    groups = build_param_groups(model, config.lr, config.weight_decay, CBST_MULTIPLIERS)
    modules: dict[str, nn.Module] = {"model": model}
    if presence_head is not None:
        presence_head.to(device)
        modules["presence_head"] = presence_head
        weights = [p for name, p in presence_head.named_parameters() if name.endswith("weight")]
        biases = [p for name, p in presence_head.named_parameters() if name.endswith("bias")]
        groups += [
            {"name": "presence_weight", "params": weights, "lr": config.lr, "initial_lr": config.lr,
             "lr_mult": 1.0, "weight_decay": config.weight_decay},
            {"name": "presence_bias", "params": biases, "lr": 2 * config.lr, "initial_lr": 2 * config.lr,
             "lr_mult": 2.0, "weight_decay": 0.0},
        ]
    # The reference re-creates SGD every round (§2.1), so momentum starts from zero each round.
    optimizer = torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum)
    trainer = Trainer(
        modules=modules,
        optimizers={"segmentation": optimizer},
        base_lrs={"segmentation": config.lr},
        config=engine.trainer_config(config.iterations, poly_power=0.0),
        state_dir=state_dir,
        device=device,
        fingerprint=fingerprint,
    )
    batches = trainer.batches(dataset, config.batch_size, engine.seed, engine.num_workers)
    network = trainer.prepare(model)
    model.train()
    set_bn_mode(model, config.bn_mode)

    def step(iteration: int) -> dict[str, torch.Tensor]:
        batch = next(batches)
        images = trainer.to_device(batch["image"])
        with trainer.autocast():
            outputs = network(images)
            presence_logits = presence_head(outputs["features"]) if presence_head is not None else None
        logits, labels = loss_grid(outputs["out"], trainer.to_device(batch["label"]), config.loss_resolution)
        if config.ohem is not None:
            seg_loss = ohem_cross_entropy(logits, labels, *config.ohem)
        else:
            seg_loss = segmentation_cross_entropy(logits, labels)
        logged = {"loss_seg": seg_loss.detach()}
        loss = seg_loss
        if presence_logits is not None:
            targets = weak_labels(labels, presence_logits.shape[1], config.pwl_presence_factor)
            pwl = presence_loss(presence_logits, targets)
            loss = loss + config.pwl_weight * pwl
            logged["loss_pwl"] = pwl.detach()
        trainer.backward(loss)
        return logged

    trainer.run(step)
