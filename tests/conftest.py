"""Shared fixtures: running the workflow on a tiny config in a scratch directory."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

REPO = Path(__file__).resolve().parents[1]


def tiny_config() -> dict:
    """The shipped config shrunk so the whole source pipeline runs in well under a minute."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config = copy.deepcopy(config)
    config["demo"].update(gta5_count=6, synthia_count=6, cityscapes_train_count=4, cityscapes_val_count=3)
    config["training"].update(seeds=[0], checkpoint_every=5, log_every=5)
    config["training"]["source"].update(iterations=10, batch_size=2)
    return config


def run_snakemake(workdir: Path, *args: str, config: dict | None = None) -> subprocess.CompletedProcess:
    """Snakemake on this checkout's Snakefile in ``workdir`` (where ``config.yaml`` is written).

    Its output, stdout and stderr together, is in ``.stdout``.
    """
    if config is not None:
        (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return subprocess.run(
        [
            sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
            "--directory", str(workdir), "--cores", "2", *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # Snakemake 9 prints its errors on stdout
        text=True,
        timeout=900,
    )


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def one_thread():
    """Tiny tensors: one thread is fastest and does not fight concurrent jobs for the cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
