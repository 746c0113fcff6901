"""Knowledge distillation of stages 2 and 3 (ProDA/CPSL ``step_distillation``, spec §7.3).

The paper's loss is KL(teacher || student) per pixel. The released code passes the student's
*probabilities* where ``F.kl_div`` expects log-probabilities and averages over every (pixel, class)
element, so it computes ``mean(t * (log t - p_s))``: a linear agreement term, not a KL (the ProDA
author acknowledged it, microsoft/ProDA issues #20 and #43). The published 56.9/57.5 (ProDA) and
59.4/60.8 (CPSL) were trained with it. ``reference_quirk=True`` reproduces that term exactly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def distillation_loss(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, reference_quirk: bool
) -> torch.Tensor:
    """KD loss between (N, C, h, w) logits of the same resolution; the teacher side carries no gradient.

    ``reference_quirk=False``: ``sum_k t_k (log t_k - log s_k)`` averaged over pixels (a true KL).
    ``reference_quirk=True``: ``F.kl_div(softmax(student), softmax(teacher))`` averaged over all
    N*C*h*w elements, as released.
    """
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(f"student {tuple(student_logits.shape)} and teacher {tuple(teacher_logits.shape)} differ")
    teacher = teacher_logits.detach().float().softmax(dim=1)
    if reference_quirk:
        return F.kl_div(student_logits.float().softmax(dim=1), teacher, reduction="none").mean()
    log_student = student_logits.float().log_softmax(dim=1)
    return F.kl_div(log_student, teacher, reduction="none").sum(dim=1).mean()
