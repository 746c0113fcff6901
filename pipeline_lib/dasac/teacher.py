"""DA-SAC's momentum teacher (spec A.6.3; ``models/sac.py`` ``_momentum_update`` L43-102).

The teacher is a second copy of the segmentation network, always in eval mode and without
gradients. Its first update copies the student and resets the class prior to beta; every later
update moves each state-dict entry ending in ``weight``, ``bias``, ``running_mean`` or
``running_var`` as theta_T <- m theta_T + (1 - m) theta_S (m = ``NET_MOMENTUM`` 0.99);
``num_batches_tracked`` is not averaged. Updates happen at iterations i with i % ``NET_MOMENTUM_ITER``
== 0 (100), where i counts from 0 **within each epoch** (``train.py`` L283).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

#: State-dict entries the EMA moves (``key.split(".")[-1] in (...)``, L80).
AVERAGED_SUFFIXES = ("weight", "bias", "running_mean", "running_var")


def teacher_updates_at(iteration: int, interval: int, epoch_length: int) -> bool:
    """Whether the teacher updates at global ``iteration``: the within-epoch counter is a multiple of ``interval``."""
    if interval < 1 or epoch_length < 1:
        raise ValueError(f"teacher interval ({interval}) and epoch length ({epoch_length}) must be >= 1")
    return (iteration % epoch_length) % interval == 0


class MomentumTeacher(nn.Module):
    """The EMA copy of a student network; its state (weights, ``initialised``) goes into checkpoints."""

    def __init__(self, student: nn.Module, momentum: float = 0.99) -> None:
        super().__init__()
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"teacher momentum must lie in [0, 1], got {momentum}")
        self.momentum = momentum
        self.network = copy.deepcopy(student)
        for param in self.network.parameters():
            param.requires_grad_(False)
        self.register_buffer("initialised", torch.zeros((), dtype=torch.bool))
        self.network.eval()

    def train(self, mode: bool = True) -> MomentumTeacher:
        """The teacher network stays in eval mode whatever its owner asks (the reference's ``slow_net.eval()``)."""
        super().train(mode)
        self.network.eval()
        return self

    @torch.no_grad()
    def update(self, student: nn.Module) -> bool:
        """Copy the student on the first call, EMA afterwards; returns True when this call initialised."""
        if not bool(self.initialised):
            self.network.load_state_dict(student.state_dict())
            self.initialised.fill_(True)
            return True
        teacher_state = self.network.state_dict()
        for key, value in student.state_dict().items():
            if key.rsplit(".", 1)[-1] in AVERAGED_SUFFIXES:
                teacher_state[key].mul_(self.momentum).add_(value.detach(), alpha=1.0 - self.momentum)
        return False

    @torch.no_grad()
    def distance(self, student: nn.Module) -> float:
        """Sum over averaged entries of ||theta_T - theta_S||, the reference's logged ``teacher_diff``."""
        teacher_state = self.network.state_dict()
        return float(
            sum(
                torch.linalg.vector_norm((teacher_state[key] - value).float())
                for key, value in student.state_dict().items()
                if key.rsplit(".", 1)[-1] in AVERAGED_SUFFIXES
            )
        )

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.network(images)
