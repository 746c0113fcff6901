"""What produced a result: configuration, code version and library versions (DAFormer-style provenance)."""

from __future__ import annotations

import platform
import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from pipeline_lib.engine import cpu_code_path

_PACKAGES = ("udaflow", "torch", "numpy", "snakemake", "pillow", "opencv-python-headless", "h5py", "pandas")


def git_revision(directory: str | Path = ".", ignore: Sequence[str] = ()) -> dict[str, Any]:
    """Commit hash and whether the working tree had uncommitted changes; ``None`` outside a git checkout.

    ``ignore`` names paths (relative to the checkout) whose changes do not count: the benchmark's own
    result files, which one case writes before the next one records its revision.
    """
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", *(f":(exclude){p}" for p in ignore)],
            cwd=directory,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": bool(dirty)}


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def provenance(config: dict[str, Any], workflow_dir: str | Path = ".", **extra: Any) -> dict[str, Any]:
    return {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "git": git_revision(workflow_dir),
        "versions": package_versions(),
        "host": platform.node(),
        "cpu_code_path": cpu_code_path.describe(),
        **extra,
        "config": config,
    }
