"""Job: ``results/summary.csv`` (mean ± std over the seeds) and ``results/summary_seeds.csv`` (every seed)."""

from __future__ import annotations

from pathlib import Path

from pipeline_lib.atomic import atomic_path
from pipeline_lib.report.papers import paper_numbers, read_papers
from pipeline_lib.summary import read_results, seed_table, step_run_name, summary_table


def run(
    miou_paths: list[str],
    summary_out: str | Path,
    seeds_out: str | Path,
    papers: str | Path | None = None,
    source: str = "gta5",
) -> None:
    """``papers``: the published numbers (``workflow/report/papers.csv``) of the ``source`` domain, added
    as the column ``paper`` (the papers' headline metric: mIoU for GTA5, mIoU16 for SYNTHIA)."""
    per_seed = seed_table(read_results(miou_paths))
    with atomic_path(seeds_out) as tmp:
        per_seed.to_csv(tmp, index=False, float_format="%.4f")
    summary = summary_table(per_seed)
    if papers is not None:
        names = [step_run_name(method, step) for method, step in zip(summary["method"], summary["step"], strict=True)]
        published = paper_numbers(read_papers(papers), source, names)
        summary.insert(summary.columns.get_loc("n") + 1, "paper", [published.get(name) for name in names])
    with atomic_path(summary_out) as tmp:
        summary.to_csv(tmp, index=False, float_format="%.4f")
