"""Job: ``results/summary.csv`` from every result the run produced."""

from __future__ import annotations

from pathlib import Path

from pipeline_lib.atomic import atomic_path
from pipeline_lib.summary import read_results, summary_table


def run(miou_paths: list[str], out: str | Path) -> None:
    table = summary_table(read_results(miou_paths))
    with atomic_path(out) as tmp:
        table.to_csv(tmp, index=False, float_format="%.4f")
