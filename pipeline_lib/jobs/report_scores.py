"""Job: the report's mIoU-per-round/stage plot and per-class IoU table (HTML and CSV), averaged over the seeds."""

from __future__ import annotations

import logging
from pathlib import Path

from pipeline_lib.atomic import atomic_path, write_text
from pipeline_lib.report.figure_files import save_figure
from pipeline_lib.report.papers import paper_numbers, read_papers
from pipeline_lib.report.plots import miou_figure, per_class_frame, per_class_html
from pipeline_lib.report.runs import parse_run
from pipeline_lib.summary import mean_results, read_results, seed_table

log = logging.getLogger(__name__)



def table_order(finals: list[str], results: dict, starts: dict[str, str]) -> list[str]:
    """The table's rows: each final run's method in the default targets' order, its warm-up (``starts``)
    first, then its rounds/stages in order; a run scored for no final comes last."""
    order = []
    for final in finals:
        run = parse_run(final)
        if run.method in starts and starts[run.method] in results:
            order.append(starts[run.method])
        steps = sorted((parse_run(name) for name in results if parse_run(name).method == run.method),
                       key=lambda other: other.step or 0)
        order += [other.name for other in steps]
    order += [name for name in results if name not in order]
    return list(dict.fromkeys(order))


def run(
    miou_paths: list[str],
    finals: list[str],
    plot_out: str | Path,
    table_html_out: str | Path,
    table_csv_out: str | Path,
    starts: dict[str, str] | None = None,
    papers: str | Path | None = None,
    source: str = "gta5",
) -> None:
    """``starts``: staged method -> the run its stage 1 starts from (plotted as stage 0); ``papers``: the
    published numbers (``workflow/report/papers.csv``) shown beside every run of the ``source`` domain."""
    results, spreads = mean_results(seed_table(read_results(miou_paths)))
    absent = [name for name in finals if name not in results]
    if absent:
        raise ValueError(f"final runs {absent} are not among the inputs {sorted(results)}")
    figure = miou_figure(results, finals, starts, spreads)
    save_figure(figure, plot_out)
    published = {}
    if papers is not None:
        published = paper_numbers(read_papers(papers), source, results)
    ordered = {name: results[name] for name in table_order(finals, results, starts or {})}
    table = per_class_frame(ordered, spreads, published)
    with atomic_path(table_csv_out) as tmp:
        table.to_csv(tmp, float_format="%.2f")
    write_text(table_html_out, per_class_html(table))
    log.info("mIoU plot of %d runs, per-class table of every round/stage (%d papers' numbers)", len(results),
             len(published))
