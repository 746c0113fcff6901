"""Job: ``results/summary.csv`` (mean ± std over the seeds) and ``results/summary_seeds.csv`` (every seed)."""

from __future__ import annotations

from pathlib import Path

from pipeline_lib.atomic import atomic_path
from pipeline_lib.summary import read_results, seed_table, summary_table


def run(miou_paths: list[str], summary_out: str | Path, seeds_out: str | Path) -> None:
    per_seed = seed_table(read_results(miou_paths))
    with atomic_path(seeds_out) as tmp:
        per_seed.to_csv(tmp, index=False, float_format="%.4f")
    with atomic_path(summary_out) as tmp:
        summary_table(per_seed).to_csv(tmp, index=False, float_format="%.4f")
