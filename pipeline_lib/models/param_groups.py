"""SGD parameter groups with DeepLab's learning-rate multipliers.

DA-SAC scheme (spec A.3.1, ``models/basenet.py`` L102-139): four groups, pretrained weights 1x with
weight decay, pretrained biases 2x without, new-layer weights 10x with, new-layer biases 20x without.
BN gamma counts as a weight (decayed), BN beta as a bias. "New" means a parameter whose name starts
with one of ``model.new_parameter_prefixes``.

AdaptSegNet (spec B.4): backbone 1x, heads 10x, weight decay on everything:
``build_param_groups(model, lr, wd, ADAPTSEGNET_MULTIPLIERS, decay_biases=True)``. Its duplicated
backbone parameters (a ``modules()``/``parameters()`` recursion, ~3x effective step) are deliberately
*not* reproduced: every trainable parameter appears in exactly one group.

Each group carries ``lr_mult``; ``lr`` and ``initial_lr`` equal ``lr * lr_mult``, so
``pipeline_lib.engine.schedule.apply_poly_lr`` (and torch schedulers) rescale it consistently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn

from pipeline_lib.models.resnet38 import ResNet38


@dataclass(frozen=True)
class LrMultipliers:
    """LR multipliers per parameter kind, relative to the base LR."""

    pretrained_weight: float = 1.0
    pretrained_bias: float = 2.0
    new_weight: float = 10.0
    new_bias: float = 20.0


DASAC_MULTIPLIERS = LrMultipliers(pretrained_weight=1, pretrained_bias=2, new_weight=10, new_bias=20)
ADAPTSEGNET_MULTIPLIERS = LrMultipliers(pretrained_weight=1, pretrained_bias=1, new_weight=10, new_bias=10)
#: CBST's MXNet ``lr_type 'alex'`` (train_src.py and solve_ST.py, spec cbst_mlsl.md §3.2): weights 1×,
#: biases and BN beta 2× without decay, and no multiplier for the head.
CBST_MULTIPLIERS = LrMultipliers(pretrained_weight=1, pretrained_bias=2, new_weight=1, new_bias=2)


def source_multipliers(model: nn.Module) -> LrMultipliers:
    """The multipliers the reference trains this network's source model with: CBST's for its
    ResNet-38, DeepLab-v2's (DA-SAC) for the DeepLab networks."""
    return CBST_MULTIPLIERS if isinstance(model, ResNet38) else DASAC_MULTIPLIERS


def build_param_groups(
    model: nn.Module,
    lr: float,
    weight_decay: float,
    multipliers: LrMultipliers = DASAC_MULTIPLIERS,
    decay_biases: bool = False,
) -> list[dict[str, Any]]:
    """Split ``model``'s trainable parameters into the (up to) four multiplier groups.

    Frozen parameters (``requires_grad=False``) are left out, like in both references; empty groups
    are omitted. Raises ValueError if a ``new_parameter_prefixes`` entry names no parameter, which
    would silently train a head at backbone LR.
    """
    new_prefixes: tuple[str, ...] = model.new_parameter_prefixes
    named = list(model.named_parameters())
    unmatched = [p for p in new_prefixes if not any(name.startswith(p) for name, _ in named)]
    if unmatched:
        raise ValueError(f"new_parameter_prefixes {unmatched} match no parameter of {type(model).__name__}")

    bias_decay = weight_decay if decay_biases else 0.0
    specs = {
        "pretrained_weight": (multipliers.pretrained_weight, weight_decay),
        "pretrained_bias": (multipliers.pretrained_bias, bias_decay),
        "new_weight": (multipliers.new_weight, weight_decay),
        "new_bias": (multipliers.new_bias, bias_decay),
    }
    members: dict[str, list[nn.Parameter]] = {kind: [] for kind in specs}
    for name, param in named:
        if not param.requires_grad:
            continue
        origin = "new" if name.startswith(new_prefixes) else "pretrained"
        kind = "bias" if name.rsplit(".", 1)[-1] == "bias" else "weight"
        members[f"{origin}_{kind}"].append(param)

    return [
        {
            "name": kind,
            "params": members[kind],
            "lr": lr * mult,
            "initial_lr": lr * mult,
            "lr_mult": mult,
            "weight_decay": decay,
        }
        for kind, (mult, decay) in specs.items()
        if members[kind]
    ]
