"""DA-SAC's target loss: focal class weights and teacher-confidence weighting (spec A.6.6).

``models/sac.py`` ``_focal_ce_conf`` (L134-149), ``LOSS: focal_ce_conf``, ``FOCAL_P 3``:

    w_c = (1 - max(chi_c, 0))^p                               (focal class prior, not renormalised)
    l_v(p) = w_{y} * (-log softmax(student_v(p))_{y})          (0 where y = 255)
    L_tgt = 1 / (B H W) * sum_{v, p} conf_v(p) * l_v(p)        (mean over all pixels of all views)

with y the pseudo-label and conf the fused teacher's max probability.

**Reference bug (A.6.6 QUIRK).** The released code multiplies ``loss_ce`` (B, H, W) by ``conf``
(B, 1, H, W), which broadcasts to (B, B, H, W): its loss is the pixel mean of (mean conf over the
GPU's B views) x (mean loss over those views), the intended per-pixel weighting only when B = 1. We
implement the per-pixel weighting; ``reference_views_per_device`` reproduces the broadcast with the
given number of views per GPU (the per-GPU losses are averaged, as DDP averages their gradients).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from pipeline_lib.data.labels import IGNORE_INDEX


def focal_class_weights(prior: torch.Tensor, power: float = 3.0) -> torch.Tensor:
    """w_c = (1 - max(chi_c, 0))^p: frequent classes (large chi) weigh less."""
    return (1.0 - prior.clamp(min=0.0)) ** power


def confidence_weighted_focal_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    confidence: torch.Tensor,
    prior: torch.Tensor,
    power: float = 3.0,
    reference_views_per_device: int | None = None,
) -> torch.Tensor:
    """L_tgt from student logits (N, C, H, W) at label resolution, pseudo-labels and confidence (N, H, W).

    ``reference_views_per_device=None`` weights each pixel by its own confidence (the documented
    method); an integer b reproduces the released code's broadcast on groups of b views.
    """
    weights = focal_class_weights(prior, power).to(logits.device, torch.float32)
    pixel_loss = F.cross_entropy(logits.float(), labels, weight=weights, ignore_index=IGNORE_INDEX, reduction="none")
    confidence = confidence.float()
    if reference_views_per_device is None:
        return (confidence * pixel_loss).mean()
    views = logits.shape[0]
    if views % reference_views_per_device:
        raise ValueError(f"{views} target views do not split into devices of {reference_views_per_device} views")
    per_device = [
        (conf.unsqueeze(1) * loss.unsqueeze(0)).mean()  # (b, 1, H, W) x (1, b, H, W): the released broadcast
        for conf, loss in zip(
            confidence.split(reference_views_per_device), pixel_loss.split(reference_views_per_device), strict=True
        )
    ]
    return torch.stack(per_device).mean()
