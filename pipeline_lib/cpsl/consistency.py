"""Prototype-assignment consistency between the weak and the strong view (ProDA §3.3; spec §6.7, L321-346).

Teacher: cosine similarities of the EMA features (mapped into the weak crop) to the EMA prototypes,
carried into the strong view's geometry, softmax with temperature tau. Student: the same for the
student's features on the strong view, log-softmax. The loss is the KL divergence summed over the
valid (pixel, class) elements and divided by their number, which includes the class dimension
(mean per-pixel KL / C), exactly as the reference normalises it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from pipeline_lib.cpsl.prototypes import cosine_similarity_map
from pipeline_lib.cpsl.strong_augmentation import replay


def prototype_consistency(
    teacher_features: torch.Tensor,
    student_features: torch.Tensor,
    prototypes_ema: torch.Tensor,
    strong_record: dict[str, torch.Tensor],
    scale: int,
    temperature: float,
) -> torch.Tensor:
    """Masked KL(teacher || student) of prototype assignments; features (N, D, h, w) at 1/``scale`` of the crop.

    ``teacher_features`` are in the weak crop's geometry, ``student_features`` in the strong view's.
    """
    prototypes_ema = prototypes_ema.detach()
    with torch.no_grad():
        similarity = cosine_similarity_map(teacher_features, prototypes_ema)
        similarity, valid = replay(similarity, strong_record, scale, 0.0)
        teacher = (similarity / temperature).softmax(dim=1)
    student = (cosine_similarity_map(student_features, prototypes_ema) / temperature).log_softmax(dim=1)
    mask = valid[:, None].expand_as(teacher).float()
    divergence = F.kl_div(student, teacher, reduction="none")
    return (divergence * mask).sum() / mask.sum().clamp(min=1.0)
