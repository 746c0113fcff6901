"""Symmetric cross-entropy (Wang et al., ICCV 2019) as ProDA/CPSL apply it to target pseudo-labels (spec §6.8).

``alpha * CE + beta * RCE``: the reverse term swaps prediction and label, with log(0) of the one-hot
label clamped to log(1e-4), which makes it ``-log(1e-4) * (1 - p_y)``, bounded and robust to noisy
labels (ProDA ``models/adaptation_modelv2.py`` ``rce``, L372-380; CPSL alpha 0.1, beta 1).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from pipeline_lib.data.labels import IGNORE_INDEX

#: The one-hot label is clamped to [ONE_HOT_FLOOR, 1] before its log (reference constant).
ONE_HOT_FLOOR = 1e-4
#: The prediction is clamped to [PROBABILITY_FLOOR, 1] (reference constant).
PROBABILITY_FLOOR = 1e-7


def reverse_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean over labelled pixels of ``-sum_k p_k log(clamp(onehot_k, 1e-4))``; logits (N, C, H, W), labels (N, H, W)."""
    probabilities = logits.float().softmax(dim=1).clamp(min=PROBABILITY_FLOOR, max=1.0)
    valid = labels != IGNORE_INDEX
    one_hot = F.one_hot(torch.where(valid, labels, 0), logits.shape[1]).permute(0, 3, 1, 2).float()
    per_pixel = -(probabilities * one_hot.clamp(min=ONE_HOT_FLOOR).log()).sum(dim=1)
    return (per_pixel * valid).sum() / (valid.sum() + 1e-6)


def symmetric_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, alpha: float, beta: float) -> torch.Tensor:
    """``alpha * CE + beta * RCE`` at the logits' resolution (labels must match it), ignoring 255."""
    if tuple(labels.shape[-2:]) != tuple(logits.shape[-2:]):
        raise ValueError(f"labels {tuple(labels.shape)} do not match logits {tuple(logits.shape)}")
    valid = labels != IGNORE_INDEX
    ce = F.cross_entropy(logits.float(), labels, ignore_index=IGNORE_INDEX) if valid.any() else logits.sum() * 0.0
    return alpha * ce + beta * reverse_cross_entropy(logits, labels)
