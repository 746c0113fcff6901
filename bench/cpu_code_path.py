"""Case ``cpu_code_path``: what ``compute.cpu_code_path`` changes in the demo's source-only model, and what it costs.

The demo's source target (generate, convert, train 600 iterations, evaluate) runs three times from an
empty directory with the shipped config: ``native`` (each library picks its kernels for this CPU),
``native`` with torch alone held to AVX2 (``ATEN_CPU_CAPABILITY``, ``ONEDNN_MAX_CPU_ISA``,
``MKL_CBWR``: the same packages on a CPU without AVX-512) and ``portable``. The mIoU shows how far
the kernel choice alone moves the number; the training job's own time (its log's "job done in")
shows the cost of the portable path.
"""

from __future__ import annotations

import copy
import json
import os
import re
import tempfile
from pathlib import Path
from unittest import mock

import yaml

from bench.common import REPO
from bench.demo import quick_config, snakemake

TARGET = "results/source/miou.json"
TORCH_AT_AVX2 = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2"}
VARIANTS = {
    "native": ("native", {}),
    "native, torch held to AVX2": ("native", TORCH_AT_AVX2),
    "portable": ("portable", {}),
}


def _train_seconds(log: Path) -> float:
    return float(re.findall(r"job done in ([0-9.]+) s", log.read_text())[-1])


def run(quick: bool) -> tuple[dict, list[dict]]:
    shipped = yaml.safe_load((REPO / "config.yaml").read_text())
    rows = []
    for name, (code_path, extra) in VARIANTS.items():
        config = copy.deepcopy(quick_config(shipped) if quick else shipped)
        config["compute"]["cpu_code_path"] = code_path
        with mock.patch.dict(os.environ, extra), tempfile.TemporaryDirectory(prefix="udaflow-bench-cpu-") as tmp:
            workdir = Path(tmp)
            (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
            seconds, _ = snakemake(workdir, TARGET)
            scores = json.loads((workdir / TARGET).read_text())
            rows.append({
                "code path": name,
                "mIoU": scores["miou"],
                "torch kernels": scores["provenance"]["cpu_code_path"]["torch_capability"],
                "training s": round(_train_seconds(workdir / "logs/train_source.log"), 1),
                "target s": round(seconds, 1),
            })
    native = rows[0]["training s"]
    for row in rows:
        row["training vs native"] = round(row["training s"] / native, 2)
    payload = {
        "what": "the demo's source target from an empty directory under each CPU code path",
        "target": "portable: the same mIoU on every x86-64 CPU with AVX2; its cost in training time",
        "config": "quick (shrunken, times not comparable)" if quick else "config.yaml as shipped",
        "results": rows,
    }
    return payload, rows


COLUMNS = ["code path", "mIoU", "torch kernels", "training s", "training vs native", "target s"]
