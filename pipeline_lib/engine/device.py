"""Choosing the device and CPU threads of a job."""

from __future__ import annotations

import logging

import torch

log = logging.getLogger(__name__)


def select_device(requested: str) -> torch.device:
    """``auto`` picks CUDA when present; asking for ``cuda`` on a machine without it is an error, not a fallback."""
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("config key compute.device is 'cuda' but this machine has no CUDA device")
    device = torch.device(requested)
    log.info("device: %s", torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu")
    return device


def set_cpu_threads(threads: int) -> None:
    """Match torch's intra-op threads to the cores Snakemake gave the job, so parallel jobs don't oversubscribe."""
    torch.set_num_threads(max(1, threads))
