"""Job: the report's training curves, from the ``train_log.csv`` of every scored training job, and each
method's job times and peak memory, from the job logs under ``logs/`` (all finished before this job:
they made its inputs)."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from pipeline_lib.atomic import atomic_path
from pipeline_lib.report.figure_files import save_figure
from pipeline_lib.report.job_times import job_times
from pipeline_lib.report.training import loss_columns, training_figure

log = logging.getLogger(__name__)



def run(
    train_logs: list[str],
    runs: list[str],
    out: str | Path,
    starts: dict[str, str] | None = None,
    times_out: str | Path | None = None,
    logs_dir: str | Path = "logs",
) -> None:
    """``runs[i]`` names the run whose log is ``train_logs[i]``; ``times_out`` gets the job-time table of
    their methods."""
    if len(train_logs) != len(runs):
        raise ValueError(f"{len(train_logs)} training logs for {len(runs)} runs")
    logs = {}
    for name, path in zip(runs, train_logs, strict=True):
        table = pd.read_csv(path)
        if "iteration" not in table.columns or not loss_columns(table):
            raise ValueError(f"{path}: a training log needs an iteration column and loss columns, got {list(table)}")
        logs[name] = table
    figure = training_figure(logs, starts)
    save_figure(figure, out)
    log.info("training curves of %d runs", len(logs))
    if times_out is not None:
        methods = list(dict.fromkeys(name.split("/", 1)[0] for name in runs))
        table = job_times(Path(logs_dir), methods)
        with atomic_path(times_out) as tmp:
            table.to_csv(tmp, index=False, float_format="%.2f")
        log.info("job times of %d methods: %.1f minutes in all", len(table), table["minutes"].sum())
