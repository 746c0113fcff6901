"""Per-round schedules of CBST's alternating optimisation (``shared/spec/cbst_mlsl.md`` §2.1 step 4, §2.2).

Round r (1-based here; the reference counts from 0) uses target portion p_r and source portion s_r.
After each round a portion grows by its step only while it is still strictly below its maximum, and
the test runs before the increment, so the last value can overshoot the maximum by one step exactly
as ``solve_AO.py`` L149-155 does. The LR is divided by sqrt(2) per round.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PortionSchedule:
    """``initial`` in round 1, ``+step`` per round while below ``maximum`` (CBST ``--init/step/max-*-port``)."""

    initial: float
    step: float
    maximum: float

    def __post_init__(self) -> None:
        if not (0.0 <= self.initial <= 1.0 and self.step >= 0.0 and 0.0 <= self.maximum <= 1.0):
            raise ValueError(f"portion schedule needs 0 <= initial, maximum <= 1 and step >= 0, got {self}")

    @classmethod
    def from_config(cls, section: dict[str, float]) -> PortionSchedule:
        """From a ``{initial, step, max}`` config block (``self_training.portions.*``)."""
        return cls(initial=section["initial"], step=section["step"], maximum=section["max"])

    def at_round(self, round_index: int) -> float:
        """Portion of round ``round_index`` (1 = first round)."""
        if round_index < 1:
            raise ValueError(f"rounds are numbered from 1, got {round_index}")
        portion = self.initial
        for _ in range(round_index - 1):
            if portion < self.maximum:
                portion += self.step
        # Repeated float addition drifts (0.15 + 0.05 * 3 = 0.30000000000000004); 10 digits is exact enough.
        return round(min(portion, 1.0), 10)


def round_learning_rate(base_lr: float, round_index: int, decay: float = math.sqrt(2.0)) -> float:
    """LR of round ``round_index``: ``base_lr / decay**(r-1)``, constant within the round (§2.1, §3.2)."""
    return base_lr / decay ** (round_index - 1)


def source_subset(num_source: int, portion: float, seed: int, round_index: int, policy: str) -> np.ndarray:
    """Indices of the source frames used in a round (§2.3).

    ``cumulative``: the first ⌊N·s_r⌋ entries of one fixed permutation, so the subsets are nested
    across rounds; ``random``: an unrelated subset per round (seeded by the round).
    """
    if policy not in ("cumulative", "random"):
        raise ValueError(f"unknown source_sample_policy {policy!r}; valid: cumulative, random")
    rng = np.random.default_rng(seed if policy == "cumulative" else (seed, round_index))
    return np.sort(rng.permutation(num_source)[: int(num_source * portion)])
