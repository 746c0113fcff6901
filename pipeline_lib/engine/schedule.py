"""The poly learning-rate schedule every reference uses (DeepLab-v2: lr · (1 - it/max_it)^power)."""

from __future__ import annotations

import torch


def poly_lr(base_lr: float, iteration: int, max_iterations: int, power: float) -> float:
    return base_lr * (1 - iteration / max_iterations) ** power


def apply_poly_lr(
    optimizer: torch.optim.Optimizer, base_lr: float, iteration: int, max_iterations: int, power: float
) -> float:
    """Set every group's LR to the poly value times the group's ``lr_mult`` (1 when absent)."""
    lr = poly_lr(base_lr, iteration, max_iterations, power)
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_mult", 1.0)
    return lr
