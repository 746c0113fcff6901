"""Job: the method x target table (``results/report/targets.csv`` and ``.html``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pipeline_lib.atomic import atomic_path
from pipeline_lib.report.targets import target_html, target_rows, target_table


def run(
    results: Sequence[str], runs: Sequence[str], datasets: Sequence[str], table_csv: str | Path, table_html: str | Path
) -> None:
    """``results``: every seed's ``miou.json`` of ``runs`` on each of ``datasets`` (the target first)."""
    frame = target_table(target_rows(results), runs, datasets)
    with atomic_path(table_csv) as tmp:
        frame.to_csv(tmp, float_format="%.4f")
    with atomic_path(table_html) as tmp:
        Path(tmp).write_text(target_html(frame))
