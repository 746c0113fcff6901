"""Batch-norm regimes used by the references (spec A.3.4, B.1.1).

- ``"train"``: BN normalises with batch statistics and updates its running mean/var (DA-SAC ABN
  baseline; AdaptSegNet, which never switches BN to eval, at batch 1).
- ``"frozen"``: BN modules in eval mode, so running statistics stay fixed, while gamma/beta still get
  gradients (DA-SAC SAC stage, CBST).

Independently, AdaptSegNet freezes the affine parameters (``requires_grad=False`` on every gamma and
beta) while leaving the statistics live: ``set_bn_affine_trainable(model, False)``.
"""

from __future__ import annotations

from typing import Literal

from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

BnMode = Literal["train", "frozen"]
BN_MODES: tuple[str, ...] = ("train", "frozen")


def _bn_modules(model: nn.Module) -> list[_BatchNorm]:
    return [m for m in model.modules() if isinstance(m, _BatchNorm)]


def set_bn_mode(model: nn.Module, mode: BnMode) -> None:
    """Apply the BN regime; call it after every ``model.train()``, which would undo ``"frozen"``.

    ``"train"`` makes BN follow ``model.training`` (so it is harmless in evaluation); ``"frozen"``
    puts every BN module in eval mode regardless.
    """
    if mode not in BN_MODES:
        raise ValueError(f"unknown BN mode {mode!r}; valid: {', '.join(BN_MODES)}")
    for bn in _bn_modules(model):
        bn.train(mode == "train" and model.training)


def set_bn_affine_trainable(model: nn.Module, trainable: bool) -> None:
    """Switch ``requires_grad`` of every BN gamma and beta (AdaptSegNet freezes them, spec B.1.1).

    Frozen affine parameters drop out of ``build_param_groups``, as they do from AdaptSegNet's SGD.
    """
    for bn in _bn_modules(model):
        for param in (bn.weight, bn.bias):
            if param is not None:
                param.requires_grad_(trainable)
