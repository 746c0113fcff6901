"""Job: the report's mIoU-per-round/stage plot and per-class IoU table (HTML and CSV), averaged over the seeds."""

from __future__ import annotations

import logging
from pathlib import Path

from pipeline_lib.atomic import atomic_path, write_text
from pipeline_lib.report.plots import miou_figure, per_class_frame, per_class_html
from pipeline_lib.summary import mean_results, read_results, seed_table

log = logging.getLogger(__name__)

DPI = 120


def run(
    miou_paths: list[str],
    finals: list[str],
    plot_out: str | Path,
    table_html_out: str | Path,
    table_csv_out: str | Path,
    starts: dict[str, str] | None = None,
) -> None:
    """``starts``: staged method -> the run its stage 1 starts from (plotted as stage 0)."""
    results, spreads = mean_results(seed_table(read_results(miou_paths)))
    absent = [name for name in finals if name not in results]
    if absent:
        raise ValueError(f"final runs {absent} are not among the inputs {sorted(results)}")
    figure = miou_figure(results, finals, starts, spreads)
    with atomic_path(plot_out) as tmp:
        figure.savefig(tmp, dpi=DPI)
    table = per_class_frame({name: results[name] for name in finals})
    with atomic_path(table_csv_out) as tmp:
        table.to_csv(tmp, float_format="%.2f")
    write_text(table_html_out, per_class_html(table))
    log.info("mIoU plot of %d runs, per-class table of %d methods", len(results), len(finals))
