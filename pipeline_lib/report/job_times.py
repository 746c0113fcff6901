"""Wall time and peak memory per method, from the job logs (every job's log ends with "job done in
<s> s, peak RSS <MB> MB", ``pipeline_lib.joblog``).

Each log path names its job (rules/*.smk ``log:``); ``method_of_log`` maps it to the method it serves:
a training, prediction or evaluation job to its method, the data jobs every method shares (demo
generation, label conversion, the spatial prior, imports) to ``shared``. Seed 0's logs only, the seed
the report's other figures show.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from pipeline_lib.report.runs import parse_run

SHARED = "shared (data, conversion, imports)"
_DONE = re.compile(r"job done in ([0-9.]+) s, peak RSS ([0-9.]+) MB(?:, peak GPU memory ([0-9.]+) MB)?")
_SEEDED = re.compile(r"seed\d+/")
#: Log path (relative to logs/, seed 0) -> the method it serves; the first match wins.
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"train_(?P<run>source(_compact16)?)\.log"), "{run}"),
    (re.compile(r"train_adaptseg/(?P<variant>\w+)\.log"), "adaptseg_{variant}"),
    (re.compile(r"train_dasac_baseline\.log"), "dasac_baseline"),
    (re.compile(r"(train_dasac|dasac_importance_weights)\.log"), "dasac"),
    (re.compile(r"cpsl/train_warmup\.log"), "cpsl_warmup"),
    (re.compile(r"cpsl/.+\.log"), "cpsl"),
    (re.compile(r"self_training/(?P<method>\w+)/round\d+/.+\.log"), "{method}"),
    (re.compile(r"evaluate/(?P<run>.+)\.log"), "{run}"),
)


def method_of_log(relative: str) -> str | None:
    """The method a job log (path relative to logs/) belongs to; None for another seed's or the report's."""
    if _SEEDED.match(relative) or relative.startswith(("report/", "summarize")):
        return None
    for pattern, template in _PATTERNS:
        match = pattern.fullmatch(relative)
        if match:
            fields = match.groupdict()
            if "run" in fields:
                return parse_run(fields["run"]).method
            return template.format(**fields)
    return SHARED


class JobRecord(NamedTuple):
    """A finished job's "job done" line: wall time, peak RSS and, for a job that used CUDA, GPU memory."""

    seconds: float
    peak_rss_mb: float
    peak_gpu_mb: float | None


def job_record(log: Path) -> JobRecord | None:
    """The last "job done" line of a job's log; None while the job has not finished."""
    found = _DONE.findall(log.read_text(errors="replace"))
    if not found:
        return None
    seconds, rss, gpu = found[-1]
    return JobRecord(float(seconds), float(rss), float(gpu) if gpu else None)


def job_times(logs_dir: Path, methods: Iterable[str]) -> pd.DataFrame:
    """Per method of ``methods`` (and the shared jobs): jobs, total minutes and the largest peak RSS."""
    wanted = set(methods) | {SHARED}
    rows = []
    for log in sorted(Path(logs_dir).rglob("*.log")):
        method = method_of_log(log.relative_to(logs_dir).as_posix())
        record = job_record(log) if method in wanted else None
        if record is not None:
            rows.append({"method": method, "seconds": record.seconds, "peak_rss_mb": record.peak_rss_mb})
    frame = pd.DataFrame(rows, columns=["method", "seconds", "peak_rss_mb"])
    table = frame.groupby("method").agg(
        jobs=("seconds", "size"), minutes=("seconds", lambda s: s.sum() / 60), peak_rss_mb=("peak_rss_mb", "max")
    )
    order = [method for method in (*methods, SHARED) if method in table.index]
    return table.loc[order].reset_index()
