"""Online class-balanced self-labelling of the learnable prototypes (CPSL §3.3; spec §6.6, L242-298).

Each iteration samples ``feature_samples`` random positions of the EMA teacher's full-image feature
map (one permutation shared by the batch). For each image, the cosine scores ``s = z c^T`` of the
sampled, L2-normalised features ``z`` to the normalised prototypes ``c`` are the student side; two
Sinkhorn problems give targets for them, both with the class-distribution marginal:

(a) the same scores, stacked under the scores of a FIFO queue of earlier features;
(b) the EMA model's L2-normalised logits at those positions, under a queue of earlier ones.

The loss is the cross-entropy ``-sum_k q_k log softmax(s / tau)_k`` of each, averaged over positions
and images. Only the prototypes receive its gradient (the features come from the no-grad teacher).
The queues take effect once full, as in the reference (whose "in use" test is a non-zero last row).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from pipeline_lib.cpsl.sinkhorn import sinkhorn


@dataclass(frozen=True)
class SelfLabellingConfig:
    """Reference: tau 0.08, epsilon 0.05, 3 iterations, 256 samples per image, queue 65536."""

    temperature: float = 0.08
    epsilon: float = 0.05
    sinkhorn_iterations: int = 3
    feature_samples: int = 256
    queue_length: int = 65536
    queue_unnormalized_prototypes: bool = True


class FeatureQueue(nn.Module):
    """A FIFO of rows (newest first, as the reference shifts rows down), checkpointed with the trainer."""

    def __init__(self, length: int, dim: int) -> None:
        super().__init__()
        self.register_buffer("values", torch.zeros(length, dim))
        self.register_buffer("filled", torch.zeros((), dtype=torch.long))

    @property
    def full(self) -> bool:
        return int(self.filled) >= self.values.shape[0]

    @torch.no_grad()
    def push(self, rows: torch.Tensor) -> None:
        count = min(rows.shape[0], self.values.shape[0])
        self.values.copy_(torch.cat((rows[:count].to(self.values), self.values[: self.values.shape[0] - count])))
        self.filled.fill_(min(int(self.filled) + count, self.values.shape[0]))


def sample_positions(height_width: int, samples: int, device: torch.device) -> torch.Tensor:
    """``samples`` random flat positions of a feature map, one draw for the whole batch (reference ``rand_index``)."""
    if samples > height_width:
        raise ValueError(f"cpsl feature_samples {samples} exceeds the {height_width} positions of the feature map")
    return torch.randperm(height_width)[:samples].to(device)


def self_labelling_loss(
    features: torch.Tensor,
    ema_logits: torch.Tensor,
    prototypes: torch.Tensor,
    feature_queue: FeatureQueue,
    output_queue: FeatureQueue,
    marginal: torch.Tensor,
    config: SelfLabellingConfig,
) -> torch.Tensor:
    """``L_SL`` for sampled, L2-normalised ``features`` (N, S, D) and ``ema_logits`` (N, S, C); pushes both queues.

    With ``queue_unnormalized_prototypes`` the queue rows of (a) are scored against the raw
    prototypes, as the reference does (QUIRK, L267); otherwise against the normalised ones.
    """
    samples = features.shape[1]
    loss_prototypes = features.new_zeros(())
    loss_outputs = features.new_zeros(())
    for i in range(features.shape[0]):
        normalized = F.normalize(prototypes, dim=1)
        scores = features[i] @ normalized.t()
        log_assignment = F.log_softmax(scores / config.temperature, dim=1)
        with torch.no_grad():
            stacked = scores.detach()
            if feature_queue.full:
                queue_prototypes = prototypes if config.queue_unnormalized_prototypes else normalized
                stacked = torch.cat((feature_queue.values @ queue_prototypes.detach().t(), stacked))
            feature_queue.push(features[i])
            targets = sinkhorn(stacked, marginal, config.epsilon, config.sinkhorn_iterations)[-samples:]
        loss_prototypes = loss_prototypes - (targets * log_assignment).sum(dim=1).mean()
        with torch.no_grad():
            stacked = ema_logits[i]
            if output_queue.full:
                stacked = torch.cat((output_queue.values, stacked))
            output_queue.push(ema_logits[i])
            targets = sinkhorn(stacked, marginal, config.epsilon, config.sinkhorn_iterations)[-samples:]
        loss_outputs = loss_outputs - (targets * log_assignment).sum(dim=1).mean()
    return (loss_prototypes + loss_outputs) / features.shape[0]
