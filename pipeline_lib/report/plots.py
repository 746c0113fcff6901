"""The report's mIoU plot and per-class IoU table, from parsed ``miou.json`` files.

Figures use matplotlib's object API (``matplotlib.figure.Figure``, rendered by Agg), never pyplot:
no global state, no display needed on a cluster node. Tables are pandas; the HTML comes from
``DataFrame.style`` (pandas' Styler), not from hand-written markup.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from pipeline_lib import class_protocols
from pipeline_lib.data.labels import CLASSES_13, CLASSES_16, TRAIN_CLASSES
from pipeline_lib.report.runs import SOURCE, Run, parse_run

#: Marks the classes of the SYNTHIA 16-class protocol that the 13-class one leaves out.
NOT_IN_13 = "*"
#: Column names of the per-class table besides the metrics and classes.
GAIN = "gain over source only"
PAPER = "paper"
PIXEL_ACCURACY = "pixel acc."
#: SYNTHIA runs: the network's outputs, i.e. which protocol its mIoU16/13 follow (pipeline_lib.class_protocols).
OUTPUTS = "outputs"
_PANEL_SIZE = (4.2, 3.0)  # inches per subplot
#: The cells of every HTML table of the report.
CELL_STYLE = {"selector": "td, th", "props": "padding: 2px 6px; font-family: sans-serif; font-size: 12px;"}


def headline_metrics(results: Mapping[str, dict]) -> list[tuple[str, str]]:
    """(key in miou.json, label): mIoU16 and mIoU13 for SYNTHIA results (the protocols papers report), else mIoU."""
    if any("miou16" in scores for scores in results.values()):
        return [("miou16", "mIoU16"), ("miou13", "mIoU13")]
    return [("miou", "mIoU")]


def _start(method: str, kind: str, results: Mapping[str, dict], starts: Mapping[str, str]) -> str | None:
    """The run a method's step 0 stands for: its warm-up for staged methods (``starts``), else the
    source model that round 1 fine-tunes; None when that run was not scored."""
    start = starts.get(method, SOURCE if kind == "round" else None)
    return start if start in results else None


def _step_axis(runs: Sequence[Run], start: str | None) -> tuple[list[int], list[str]]:
    """x = round/stage index and the run drawn there; step 0 is ``start`` when there is one."""
    ordered = sorted(runs, key=lambda run: run.step)
    steps = [run.step for run in ordered]
    names = [run.name for run in ordered]
    if start is not None:
        steps.insert(0, 0)
        names.insert(0, start)
    return steps, names


def _label(value: float, spread: float | None) -> str:
    return f"{value:.1f}" if spread is None else f"{value:.1f}±{spread:.1f}"


def miou_figure(
    results: Mapping[str, dict],
    finals: Sequence[str],
    starts: Mapping[str, str] | None = None,
    spreads: Mapping[str, dict] | None = None,
) -> Figure:
    """First panel: every method's final result as bars; then one panel per round/stage method.

    ``results`` maps run names (``cbst_sp/round2``) to parsed ``miou.json`` (or their mean over the
    seeds, ``pipeline_lib.summary.mean_results``), and ``spreads`` to each score's std over the
    seeds, drawn as error bars; ``finals`` lists the default targets' run names in the order the bars
    are drawn; ``starts`` maps a staged method to the run its stage 1 starts from (CPSL: its
    warm-up), drawn as stage 0. The source-only score is the dashed reference line of every panel.
    """
    starts = starts or {}
    spreads = spreads or {}
    runs = [parse_run(name) for name in results]
    stepped: dict[str, list[Run]] = {}
    for run in runs:
        if run.kind is not None:
            stepped.setdefault(run.method, []).append(run)
    metrics = headline_metrics(results)
    panels = 1 + len(stepped)
    cols = min(3, panels)
    rows = math.ceil(panels / cols)
    figure = Figure(figsize=(_PANEL_SIZE[0] * cols, _PANEL_SIZE[1] * rows), layout="constrained")
    axes = figure.subplots(rows, cols, squeeze=False).ravel()
    key, label = metrics[0]
    reference = results[SOURCE][key] if SOURCE in results else None

    bars = axes[0]
    values = [results[name][key] for name in finals]
    errors = [spreads.get(name, {}).get(key) for name in finals]
    positions = np.arange(len(finals))
    bars.barh(
        positions,
        values,
        xerr=[error or 0.0 for error in errors],
        color=["0.6" if name == SOURCE else "C0" for name in finals],
    )
    bars.set_yticks(positions, finals, fontsize=8)
    bars.invert_yaxis()
    for position, value, error in zip(positions, values, errors, strict=True):
        bars.annotate(
            _label(value, error), (value + (error or 0.0), position), xytext=(2, 0), textcoords="offset points",
            va="center", fontsize=7,
        )
    seeds = max((results[name].get("seeds", 1) for name in finals), default=1)
    bars.set_xlabel(f"{label} (%)")
    bars.set_title("final result per method" + (f" (mean ± std, {seeds} seeds)" if seeds > 1 else ""), fontsize=10)
    bars.set_xlim(0, max(v + (e or 0.0) for v, e in zip(values, errors, strict=True)) * 1.25 if values else 1)

    for axis, (method, method_runs) in zip(axes[1:], stepped.items(), strict=False):
        kind = method_runs[0].kind
        start = _start(method, kind, results, starts)
        for index, (metric_key, metric_label) in enumerate(metrics):
            steps, names = _step_axis(method_runs, start)
            ys = [results[name][metric_key] for name in names]
            errors = [spreads.get(name, {}).get(metric_key) for name in names]
            style = "-" if index == 0 else ":"
            axis.plot(steps, ys, marker="o", linestyle=style, color=f"C{index}", label=metric_label)
            if any(error is not None for error in errors):  # ± 1 std over the seeds as a band
                low = [y - (error or 0.0) for y, error in zip(ys, errors, strict=True)]
                high = [y + (error or 0.0) for y, error in zip(ys, errors, strict=True)]
                axis.fill_between(steps, low, high, color=f"C{index}", alpha=0.2, linewidth=0)
            for step, y, error in zip(steps, ys, errors, strict=True):
                axis.annotate(
                    _label(y, error), (step, y), xytext=(0, 5), textcoords="offset points", ha="center", fontsize=7
                )
        if reference is not None:
            axis.axhline(reference, color="0.5", linestyle="--", linewidth=1, label=f"source only ({reference:.1f})")
        axis.set_xticks(steps)
        axis.set_xlabel(kind if start is None else f"{kind} (0 = {'source model' if start == SOURCE else start})")
        axis.set_ylabel(f"{label} (%)")
        axis.set_title(method, fontsize=10)
        axis.legend(fontsize=7, loc="lower right")
        axis.margins(y=0.2)
    for axis in axes[panels:]:
        axis.set_visible(False)
    return figure


def per_class_frame(
    results: Mapping[str, dict],
    spreads: Mapping[str, dict] | None = None,
    papers: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Rows = runs (in ``results`` order), columns = headline mIoU(s), its std over the seeds, the gain over
    source-only (paired per seed) and its std, the paper's number, pixel accuracy, then per-class IoU in %.

    For SYNTHIA the three classes SYNTHIA lacks (terrain, truck, train) are dropped, the three the
    13-class protocol also leaves out (wall, fence, pole) carry a ``*``, and ``outputs`` says whether a
    run's mIoU16/13 are the compact16 scores of a 16-output network or the drop-3 means of a 19-output
    one. ``spreads`` and ``papers`` (``pipeline_lib.report.papers.paper_numbers``) may be absent; their
    cells are then empty.
    """
    spreads = spreads or {}
    papers = papers or {}
    metrics = headline_metrics(results)
    synthia = metrics[0][0] == "miou16"
    key, label = metrics[0]
    classes = [TRAIN_CLASSES[i] for i in CLASSES_16] if synthia else list(TRAIN_CLASSES)
    in_13 = {TRAIN_CLASSES[i] for i in CLASSES_13}
    rows = {}
    for name, scores in results.items():
        row = {label: scores.get(key), f"{label} std": spreads.get(name, {}).get(key)}
        row.update({other_label: scores.get(other_key) for other_key, other_label in metrics[1:]})
        if synthia:  # 16 = compact16 (CBST, CPSL), 19 = drop-3 means of a 19-output network
            row[OUTPUTS] = class_protocols.PROTOCOL_OUTPUTS[scores.get("class_protocol", "19")]
        source = name in class_protocols.SOURCE_RUNS.values()
        row[GAIN] = None if source else scores.get("gain")
        row[f"{GAIN} std"] = None if source else spreads.get(name, {}).get("gain")
        row[PAPER] = papers.get(name)
        row[PIXEL_ACCURACY] = scores.get("pixel_accuracy")
        for cls in classes:
            column = cls if not synthia or cls in in_13 else f"{cls}{NOT_IN_13}"
            row[column] = scores["per_class"].get(cls)
        rows[name] = row
    frame = pd.DataFrame.from_dict(rows, orient="index", dtype=float)
    frame.index.name = "run"
    return frame


def _best(column: pd.Series) -> list[str]:
    """Bold the column's best run; nothing when every run is at 0 (a class no method finds is no "best")."""
    best = column.max()
    return ["font-weight: bold; text-decoration: underline" if best > 0 and value == best else "" for value in column]


def per_class_html(frame: pd.DataFrame) -> str:
    """A standalone HTML table: one colour scale (0-100 %) for the IoU cells, the best run of each IoU
    column in bold; spreads as ±, gains signed; no separate header row for the run names."""
    frame = frame.rename_axis(None)
    spread_columns = [column for column in frame.columns if column.endswith(" std")]
    other = (*spread_columns, GAIN, PAPER, PIXEL_ACCURACY, OUTPUTS)
    iou_columns = [column for column in frame.columns if column not in other]
    formats = {column: "{:.1f}" for column in frame.columns} | {OUTPUTS: "{:.0f}"}
    formats |= {column: "±{:.1f}" for column in spread_columns} | {GAIN: "{:+.1f}"}
    styled = (
        frame.style.format({column: formats[column] for column in frame.columns}, na_rep="–")
        .background_gradient(cmap="YlGn", axis=None, vmin=0.0, vmax=100.0, subset=iou_columns)
        .apply(_best, axis=0, subset=iou_columns)
        .set_table_styles(
            [
                {"selector": "th.col_heading", "props": "writing-mode: vertical-rl; transform: rotate(180deg);"},
                CELL_STYLE,
            ]
        )
    )
    return styled.to_html(doctype_html=True)
