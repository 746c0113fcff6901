"""Prototype-based pseudo-label rectification (CPSL ``get_prototype_weight``; ProDA Eq. 3-5; spec §6.5).

Every pixel's fixed warm-up soft label ``p_i`` is re-weighted by how close its (EMA) feature is to
each class prototype, ``w_ik = softmax_k(cos(f_i, c_k) / tau)`` (CPSL: cosine, tau = 0.08), and the
label is ``argmax_k w_ik * p_ik``. The normalised product's maximum below ``threshold`` marks the
pixel ignored (CPSL's ``--train_thred 0``: never, since that maximum is at least 1/C).
"""

from __future__ import annotations

import torch

from pipeline_lib.cpsl.prototypes import cosine_similarity_map
from pipeline_lib.data.labels import IGNORE_INDEX


def prototype_weights(features: torch.Tensor, prototypes: torch.Tensor, temperature: float) -> torch.Tensor:
    """``softmax_k(cos(f, c_k) / temperature)``: (N, C, h, w) from features (N, D, h, w), prototypes (C, D)."""
    return (cosine_similarity_map(features, prototypes) / temperature).softmax(dim=1)


def rectify(weights: torch.Tensor, soft_labels: torch.Tensor, threshold: float = 0.0) -> torch.Tensor:
    """Hard labels (N, h, w) ``argmax_k weights * soft_labels``; ignore (255) where the normalised max < threshold."""
    if weights.shape != soft_labels.shape:
        raise ValueError(f"weights {tuple(weights.shape)} and soft labels {tuple(soft_labels.shape)} differ")
    rectified = weights * soft_labels
    confidence, labels = (rectified / rectified.sum(dim=1, keepdim=True).clamp(min=1e-12)).max(dim=1)
    return torch.where(confidence < threshold, torch.full_like(labels, IGNORE_INDEX), labels)
