"""The moving class prior and DA-SAC's per-class adaptive thresholds (spec A.6.5).

Class prior chi (``models/sac.py`` ``_update_running_conf`` L104-117, buffer ``running_conf``): each
iteration the mean teacher probability of every class over the local views and pixels (before
fusion and padding) updates chi <- gamma chi + (1 - gamma) mean, gamma = ``STAT_MOMENTUM`` 0.99. A
class whose chi still equals beta exactly (never updated since the teacher's reset) first takes the
batch mean, if that exceeds 1e-8.

Thresholds (``_pseudo_labels_probs`` L154-187), per view v and class c, on the fused distribution:

    theta_{v,c} = max(tau_low, zeta * m_{v,c} * (1 - exp(-chi_c / beta)))

where m_{v,c} is the highest confidence among the view's pixels predicted as c (0 if none), zeta =
``RUN_CONF_UPPER`` 0.75, beta = ``THRESHOLD_BETA`` 1e-3, tau_low = ``RUN_CONF_LOWER`` (0.2 ResNet,
0.1 VGG). A pixel keeps its argmax label when its confidence is strictly above the threshold of that
class, otherwise it is 255; padded and uncovered pixels are 255.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from pipeline_lib.data.labels import IGNORE_INDEX

#: A class whose batch mean is at most this is not (re)initialised from it (``tolerance=1e-8``).
NEW_CLASS_TOLERANCE = 1e-8


@dataclass(frozen=True)
class ThresholdConfig:
    upper: float = 0.75  # zeta, RUN_CONF_UPPER
    lower: float = 0.2  # tau_low, RUN_CONF_LOWER (ResNet; VGG/FCN 0.1)
    beta: float = 1e-3  # THRESHOLD_BETA: the prior's reset value and the discount's scale
    discount: bool = True  # CONF_DISCOUNT: lower the threshold of rare classes


class ClassPrior(nn.Module):
    """chi: a running estimate of the probability mass the teacher gives each class on the target.

    A module (buffer ``values``) so that it lives in the training checkpoint, like the reference's
    ``running_conf`` buffer.
    """

    def __init__(self, num_classes: int, momentum: float = 0.99) -> None:
        super().__init__()
        self.momentum = momentum
        self.register_buffer("values", torch.zeros(num_classes))

    @torch.no_grad()
    def reset(self, beta: float) -> None:
        """Set every class to beta, as the teacher's initialisation does (``_momentum_update`` L66)."""
        self.values.fill_(beta)

    @torch.no_grad()
    def update(self, probabilities: torch.Tensor, beta: float) -> None:
        """One step from the teacher's unfused softmax (N, C, H, W)."""
        mean = probabilities.float().mean(dim=(0, 2, 3))
        fresh = (mean > NEW_CLASS_TOLERANCE) & (self.values == beta)
        self.values[fresh] = mean[fresh]
        self.values.mul_(self.momentum).add_((1.0 - self.momentum) * mean)


def threshold_discount(prior: torch.Tensor, beta: float) -> torch.Tensor:
    """1 - exp(-chi / beta): about 1 for chi above ~5e-3, 0.63 at chi = beta."""
    return 1.0 - torch.exp(-prior / beta)


def class_thresholds(fused: torch.Tensor, prior: torch.Tensor, config: ThresholdConfig) -> torch.Tensor:
    """theta (N, C): per view, zeta times the peak confidence of each class (discounted), floored at tau_low."""
    views, classes = fused.shape[:2]
    confidence, winner = fused.max(dim=1)
    peaks = torch.zeros(views, classes, dtype=fused.dtype, device=fused.device)
    peaks.scatter_reduce_(1, winner.view(views, -1), confidence.view(views, -1), reduce="amax")
    thresholds = config.upper * peaks
    if config.discount:
        thresholds = thresholds * threshold_discount(prior, config.beta).to(fused.dtype).view(1, classes)
    return thresholds.clamp(min=config.lower)


def pseudo_labels(
    fused: torch.Tensor, prior: torch.Tensor, config: ThresholdConfig, padding: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(labels (N, H, W) with 255 = ignored, confidence (N, H, W)) from the fused distribution (N, C, H, W).

    The confidence is the fused max probability, which also weights the target loss (A.6.6).
    """
    confidence, winner = fused.max(dim=1)
    thresholds = class_thresholds(fused, prior, config)
    keep = confidence > thresholds.gather(1, winner.flatten(1)).view_as(confidence)
    labels = torch.where(keep, winner, torch.full_like(winner, IGNORE_INDEX))
    if padding is not None:
        labels = labels.masked_fill(padding, IGNORE_INDEX)
    return labels, confidence
