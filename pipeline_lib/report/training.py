"""The report's training curves: every loss a job logged (``train_log.csv``), one panel per method.

A method's rounds or stages follow each other on one iteration axis (each step's iterations after
the previous step's), separated by dotted lines, so a round that diverges or a stage whose loss
jumps at its start is visible at a glance. The warm-up a staged method starts from comes first.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd
from matplotlib.figure import Figure

from pipeline_lib.report.runs import parse_run

_PANEL_SIZE = (5.0, 3.0)  # inches per subplot


def loss_columns(log: pd.DataFrame) -> list[str]:
    return [column for column in log.columns if column.startswith("loss")]


def training_figure(logs: Mapping[str, pd.DataFrame], starts: Mapping[str, str] | None = None) -> Figure:
    """``logs`` maps run names (``cbst_sp/round2``) to their ``train_log.csv``; a staged method's warm-up
    (``starts``: method -> run) is drawn before its stage 1 in the method's panel."""
    starts = starts or {}
    panels: dict[str, list[str]] = {}
    for name in logs:
        run = parse_run(name)
        panels.setdefault(run.method, []).append(name)
    for method, start in starts.items():
        if method in panels and start in logs:
            panels[start] = [name for name in panels.get(start, []) if name != start]
            panels[method].insert(0, start)
    panels = {method: names for method, names in panels.items() if names}
    cols = min(3, len(panels))
    rows = max(1, math.ceil(len(panels) / max(cols, 1)))
    figure = Figure(figsize=(_PANEL_SIZE[0] * max(cols, 1), _PANEL_SIZE[1] * rows), layout="constrained")
    axes = figure.subplots(rows, max(cols, 1), squeeze=False).ravel()
    for axis, (method, names) in zip(axes, panels.items(), strict=False):
        offset = 0
        colours: dict[str, str] = {}
        for name in sorted(names, key=lambda n: (n not in starts.values(), parse_run(n).step or 0)):
            log = logs[name]
            for column in loss_columns(log):
                colour = colours.setdefault(column, f"C{len(colours) % 10}")
                label = column if list(colours).index(column) == len(colours) - 1 and offset == 0 else None
                axis.plot(log["iteration"] + offset, log[column], color=colour, linewidth=1, label=label)
            if offset:
                axis.axvline(offset, color="0.6", linestyle=":", linewidth=1)
            axis.annotate(name.rsplit("/", 1)[-1], (offset, 1), xycoords=("data", "axes fraction"), fontsize=7,
                          xytext=(2, -10), textcoords="offset points")
            offset += int(log["iteration"].max()) if len(log) else 0
        axis.set_title(method, fontsize=10)
        axis.set_xlabel("iteration (steps one after another)")
        axis.set_ylabel("loss")
        axis.legend(fontsize=7, loc="upper right")
    for axis in axes[len(panels):]:
        axis.set_visible(False)
    return figure
