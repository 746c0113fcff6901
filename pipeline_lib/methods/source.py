"""Source-only training: supervised DeepLab-v2 on the labelled source domain.

This is the baseline every paper reports and the round-0 model of the self-training methods, so
nothing in it is weakened for the demo: poly LR, the reference's LR multipliers for the network
(DeepLab-v2: DA-SAC A.3.1; ResNet-38: CBST's ``alex``) and the configured augmentation, exactly as the
adapted methods use them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from pipeline_lib.data.datasets import SegmentationDataset
from pipeline_lib.data.transforms import AugmentationConfig
from pipeline_lib.engine.trainer import EngineSettings, Trainer
from pipeline_lib.losses import segmentation_cross_entropy
from pipeline_lib.models.batchnorm import set_bn_mode
from pipeline_lib.models.param_groups import build_param_groups, source_multipliers


@dataclass(frozen=True)
class SourceTrainingConfig:
    iterations: int
    batch_size: int
    lr: float
    accumulation_steps: int = 1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    poly_power: float = 0.9
    bn_mode: str = "train"
    augmentation: AugmentationConfig = field(default_factory=AugmentationConfig)


def train_source(
    model: nn.Module,
    dataset: SegmentationDataset,
    config: SourceTrainingConfig,
    *,
    state_dir: Path,
    device: torch.device,
    fingerprint: str,
    engine: EngineSettings,
) -> nn.Module:
    """Train ``model`` in place on ``dataset`` (resuming from ``state_dir`` when a checkpoint is there)."""
    model.to(device)
    optimizer = torch.optim.SGD(
        build_param_groups(model, config.lr, config.weight_decay, source_multipliers(model)),
        lr=config.lr,
        momentum=config.momentum,
    )
    trainer = Trainer(
        modules={"model": model},
        optimizers={"segmentation": optimizer},
        base_lrs={"segmentation": config.lr},
        config=engine.trainer_config(config.iterations, config.poly_power, config.accumulation_steps),
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
        labels = trainer.to_device(batch["label"])
        with trainer.autocast():
            logits = network(images)["out"]
        loss = segmentation_cross_entropy(logits, labels)
        trainer.backward(loss)
        return {"loss": loss.detach()}

    trainer.run(step)
    return model
