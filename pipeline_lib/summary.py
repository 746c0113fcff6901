"""One table of every result: a row per method and round/stage, with mIoU and the per-class IoUs."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from pipeline_lib.data.labels import TRAIN_CLASSES


def run_name(miou_path: str | Path) -> str:
    """``results/cbst_sp/round3/miou.json`` -> ``cbst_sp/round3``."""
    parts = Path(miou_path).parent.parts
    return "/".join(parts[parts.index("results") + 1 :]) if "results" in parts else Path(miou_path).parent.name


def summary_table(results: dict[str, dict]) -> pd.DataFrame:
    """``results`` maps a run name (``method`` or ``method/round<r>``) to its parsed ``miou.json``."""
    rows = []
    for name, scores in results.items():
        method, _, step = name.partition("/")
        rows.append(
            {
                "method": method,
                "step": step,
                "miou": scores["miou"],
                "miou16": scores.get("miou16"),
                "miou13": scores.get("miou13"),
                **{cls: scores["per_class"].get(cls) for cls in TRAIN_CLASSES},
            }
        )
    return pd.DataFrame(rows).sort_values(["method", "step"], kind="stable").reset_index(drop=True)


def read_results(paths: list[str | Path]) -> dict[str, dict]:
    return {run_name(path): json.loads(Path(path).read_text()) for path in paths}
