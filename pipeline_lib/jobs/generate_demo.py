"""Job: write the synthetic demo datasets."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from pipeline_lib.data.demo import DemoSpec, generate_demo

log = logging.getLogger(__name__)


def run(root: str | Path, spec: dict[str, Any]) -> None:
    started = time.monotonic()
    manifest = generate_demo(Path(root), DemoSpec.from_config(spec))
    log.info("demo data written to %s in %.1f s: %s", root, time.monotonic() - started, manifest.get("counts"))
