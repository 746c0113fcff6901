"""Sinkhorn-Knopp with a class-distribution marginal: CPSL's class-balanced self-labelling (spec §6.6).

SwAV's solver (Caron et al., 2020) with one change: the row (class) marginal is the warm-up model's
pseudo-label class distribution r instead of the uniform 1/K (CPSL paper §3.3, "distribution
alignment"; ``models/adaptation_modelv2.py`` L403-424).
"""

from __future__ import annotations

import torch


@torch.no_grad()
def sinkhorn(scores: torch.Tensor, marginal: torch.Tensor, epsilon: float, iterations: int) -> torch.Tensor:
    """Soft assignments (B, K) of B samples to K classes from similarity ``scores`` (B, K).

    ``Q = exp(S / epsilon)``, normalised to total mass 1, then ``iterations`` rounds of: every class
    row rescaled to mass ``marginal[k]``, every sample column to mass 1/B. Finally Q is multiplied by
    B, so each returned row sums to 1 (a distribution over classes per sample) and, as the iterations
    converge, each class column sums to B * marginal[k]. As in the reference the last normalisation
    is the per-sample one, so the class totals are approximate after few iterations.

    Computed in float64: exp(1/0.05) is fine in float32, but the reference's rescalings of a
    65 792 x 19 matrix lose precision there.
    """
    if scores.ndim != 2 or marginal.shape != (scores.shape[1],):
        raise ValueError(
            f"scores must be (B, K) and marginal (K,), got {tuple(scores.shape)} and {tuple(marginal.shape)}"
        )
    if epsilon <= 0 or iterations < 1:
        raise ValueError(f"sinkhorn needs epsilon > 0 and iterations >= 1, got {epsilon} and {iterations}")
    q = torch.exp(scores.double() / epsilon).t()  # K x B, as in the reference (and SwAV)
    samples = q.shape[1]
    r = marginal.double().to(q.device)[:, None]
    tiny = torch.finfo(q.dtype).tiny  # a class of marginal 0 keeps an all-zero row instead of 0/0
    q /= q.sum()
    for _ in range(iterations):
        q /= q.sum(dim=1, keepdim=True).clamp(min=tiny)
        q *= r
        q /= q.sum(dim=0, keepdim=True)
        q /= samples
    q *= samples
    return q.t().to(scores.dtype)
