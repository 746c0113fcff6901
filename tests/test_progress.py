"""Progress lines: rates keep three significant digits, so a bench reading them back is exact to 1 %."""

import pytest

from bench.realsize import progress_lines
from pipeline_lib.progress import Progress, format_rate


@pytest.mark.parametrize(("rate", "text"), [(0.02127, "0.0213"), (1.754, "1.75"), (36.21, "36.2"), (1234.5, "1234")])
def test_rates_keep_three_significant_digits(rate, text):
    assert format_rate(rate) == text


@pytest.mark.parametrize("rate", [0.0, float("nan"), float("inf")])
def test_no_rate_yet_reads_as_zero(rate):
    assert format_rate(rate) == "0.00"


def test_a_slow_jobs_rate_is_read_back_within_one_percent(monkeypatch):
    clock = iter([0.0, 47.3])  # one image in 47.3 s: "0.02 img/s" at two decimals would read as 50 s
    monkeypatch.setattr("pipeline_lib.progress.time.monotonic", lambda: next(clock))
    progress = Progress("predicted", 2)
    progress.done = 1
    ((count, rate, unit),) = progress_lines(progress.line())
    assert count == 1
    assert unit == "img"
    assert 1 / float(rate) == pytest.approx(47.3, rel=0.01)
