"""Progress lines for long per-item jobs (evaluation, prediction, pseudo-labels, report statistics).

One complete line per update, never a carriage-return bar: a Snakemake job log is a file, and a
``\\r`` bar turns into one unreadable line there. The format matches the trainer's lines
(``pipeline_lib.engine.trainer``): ``what [done/total] pct% | rate | eta h:mm:ss``, so ``grep eta
logs/...`` shows every long job's state the same way.
"""

from __future__ import annotations

import logging
import math
import time

log = logging.getLogger(__name__)

#: Updates per job when no interval is given: enough to see it move, few enough to read the log.
DEFAULT_UPDATES = 10
#: An update is printed at least this often (seconds) whatever the item interval, so a slow job on
#: real data (minutes per shard) still shows that it is alive.
MAX_SILENCE_S = 60.0


def format_duration(seconds: float) -> str:
    """``h:mm:ss``; ``?`` when unknown (no rate yet)."""
    if not math.isfinite(seconds):
        return "?"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def format_rate(rate: float) -> str:
    """Three significant digits in fixed point (``0.0213``, ``1.75``, ``36.2``, ``1234``): two decimals
    would print a real-size training job's 47 s per iteration as ``0.02`` it/s, which stands for 40-67 s."""
    if rate <= 0 or not math.isfinite(rate):
        return "0.00"
    return f"{rate:.{max(0, 2 - math.floor(math.log10(rate)))}f}"


class Progress:
    """Count items and log a line on the first, every ``every``-th and the last, or after a minute of silence."""

    def __init__(self, what: str, total: int, unit: str = "img", every: int | None = None) -> None:
        self.what = what
        self.total = total
        self.unit = unit
        self.every = every or max(1, math.ceil(total / DEFAULT_UPDATES))
        self.done = 0
        self.started = self.last = time.monotonic()

    def line(self) -> str:
        elapsed = time.monotonic() - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else float("nan")
        width = len(str(self.total))
        percent = 100 * self.done / self.total if self.total else 100.0
        return (
            f"{self.what} [{self.done:>{width}}/{self.total}] {percent:5.1f}% | {format_rate(rate)} {self.unit}/s | "
            f"eta {format_duration(eta)}"
        )

    def advance(self, count: int = 1) -> None:
        self.done += count
        now = time.monotonic()
        first, last = self.done == count, self.done >= self.total
        if first or last or self.done % self.every == 0 or now - self.last >= MAX_SILENCE_S:
            self.last = now
            log.info(self.line())
