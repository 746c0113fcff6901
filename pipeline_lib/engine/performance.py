"""GPU efficiency switches shared by training and prediction (config section ``compute``).

The reference code trains DeepLab-v2 in fp32, NCHW, with a host sync per iteration. Here:

- bf16 autocast (``compute.amp``) and the channels-last memory format (``compute.channels_last``) let
  convolutions run on tensor cores; both apply on CUDA only (``ComputeSettings.on``), so CPU runs
  (the demo) stay bitwise identical whatever the switches say;
- ``compute.deterministic`` trades speed for reproducibility: off, cuDNN benchmarks its algorithms
  per input shape and TF32 is allowed; on, cuDNN is restricted to deterministic algorithms;
- ``compute.compile`` wraps the network in ``torch.compile`` (one compilation per input shape, worth
  it for long runs at fixed crop sizes);
- ``compute.pin_memory`` pins loader batches so host-to-device copies run asynchronously.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ComputeSettings:
    """The efficiency part of config section ``compute`` (device selection and threads live elsewhere)."""

    amp: bool = True
    channels_last: bool = True
    deterministic: bool = False
    compile: bool = False
    pin_memory: bool = True
    num_workers: int = 0

    @classmethod
    def from_config(cls, compute: dict[str, Any]) -> ComputeSettings:
        missing = [key for key in ("amp", "channels_last", "deterministic", "compile", "pin_memory", "num_workers")
                   if key not in compute]
        if missing:
            raise KeyError(f"config section compute lacks {', '.join(missing)} (see config.yaml for their meaning)")
        return cls(
            amp=compute["amp"],
            channels_last=compute["channels_last"],
            deterministic=compute["deterministic"],
            compile=compute["compile"],
            pin_memory=compute["pin_memory"],
            num_workers=compute["num_workers"],
        )

    def on(self, device: torch.device) -> ComputeSettings:
        """The switches as they take effect on ``device``: autocast, channels-last and pinning are CUDA-only."""
        cuda = device.type == "cuda"
        return replace(
            self, amp=self.amp and cuda, channels_last=self.channels_last and cuda, pin_memory=self.pin_memory and cuda
        )


def configure_backends(deterministic: bool) -> None:
    """cuDNN autotuning and TF32 unless ``deterministic`` (then deterministic cuDNN algorithms only)."""
    torch.backends.cudnn.benchmark = not deterministic
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cuda.matmul.allow_tf32 = not deterministic
    torch.backends.cudnn.allow_tf32 = not deterministic


def memory_format(channels_last: bool) -> torch.memory_format:
    """NHWC is what tensor-core convolutions consume; NCHW otherwise."""
    return torch.channels_last if channels_last else torch.contiguous_format


def prepare_model(model: nn.Module, device: torch.device, channels_last: bool, compile: bool = False) -> nn.Module:
    """Move ``model`` to ``device`` in place (in the channels-last format when asked) and return what to call.

    The returned callable is ``model`` itself or its ``torch.compile`` wrapper, which shares the
    parameters: checkpoints keep using ``model`` (its state-dict keys carry no ``_orig_mod.`` prefix).
    """
    model.to(device=device, memory_format=memory_format(channels_last))
    if not compile:
        return model
    log.info("compiling the network with torch.compile (first iterations are slower)")
    return torch.compile(model)


def to_device(tensor: torch.Tensor, device: torch.device, channels_last: bool = False) -> torch.Tensor:
    """Asynchronous host-to-device copy (from pinned memory), image batches in the network's memory format."""
    if tensor.dim() == 4:
        return tensor.to(device, non_blocking=True, memory_format=memory_format(channels_last))
    return tensor.to(device, non_blocking=True)


def autocast(device: torch.device, amp: bool) -> contextlib.AbstractContextManager:
    """bf16 autocast when ``amp`` (``ComputeSettings.on`` turns it off on CPU, where bf16 convs are slower)."""
    if amp:
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
