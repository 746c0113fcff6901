"""The papers' published numbers beside the report's runs (``workflow/report/papers.csv``).

Each row of the file gives one published result: ``method``, ``step`` (empty for a single result,
``stage<s>`` / ``round<r>`` for that step, ``final`` for a round-based method's last round, which
the papers report and whose index depends on the config), the ``source`` domain, the ``metric``
(``miou`` for GTA5, ``miou16`` for SYNTHIA), the ``value``, the paper's network and the reference.
These are citations, not results of this workflow: the report shows them beside ours, never mixed in.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import pandas as pd

from pipeline_lib.report.runs import parse_run

COLUMNS = ("method", "step", "source", "metric", "value", "network", "reference")


def read_papers(path: str | os.PathLike[str]) -> pd.DataFrame:
    table = pd.read_csv(path, keep_default_na=False, dtype={"step": str, "method": str})
    if tuple(table.columns) != COLUMNS:
        raise ValueError(f"{path}: expected the columns {','.join(COLUMNS)}, got {','.join(table.columns)}")
    return table


#: The metric the papers report per source domain (the file's ``metric`` column).
PAPER_METRICS = {"gta5": "miou", "synthia": "miou16"}


def paper_numbers(papers: pd.DataFrame, source: str, names: Iterable[str]) -> dict[str, float]:
    """Run name -> the published headline metric on ``source`` for it, for the runs that have one."""
    metric = PAPER_METRICS[source]
    runs = [parse_run(name) for name in names]
    last = {}
    for run in runs:
        if run.kind is not None:
            last[run.method] = max(last.get(run.method, 0), run.step)
    rows = papers[(papers["source"] == source) & (papers["metric"] == metric)]
    numbers = {}
    for run in runs:
        if run.kind is None:
            wanted = {""}
        else:
            wanted = {f"{run.kind}{run.step}"} | ({"final"} if run.step == last[run.method] else set())
        match = rows[(rows["method"] == run.method) & rows["step"].isin(wanted)]
        if not match.empty:
            numbers[run.name] = float(match["value"].iloc[0])
    return numbers
