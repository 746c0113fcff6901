"""Job logs: a failure leaves its traceback in the log; a deliberate exit only its status."""

import pytest

from pipeline_lib.joblog import history_path, job_log


def test_bad_input_is_one_line_out_and_its_traceback_in_the_log(tmp_path):
    log = tmp_path / "job.log"
    with pytest.raises(SystemExit) as stopped, job_log(log):
        raise ValueError("config key x is wrong")
    assert str(stopped.value.code) == f"udaflow: config key x is wrong (traceback in {log})"
    text = log.read_text()
    assert "job failed" in text and "Traceback" in text and "ValueError: config key x is wrong" in text


def test_a_bug_keeps_its_traceback(tmp_path):
    log = tmp_path / "job.log"
    with pytest.raises(KeyError), job_log(log):
        raise KeyError("spec")
    assert "job failed" in log.read_text() and "Traceback" in log.read_text()


def test_deliberate_exit_is_logged_without_a_traceback(tmp_path):
    log = tmp_path / "job.log"
    with pytest.raises(SystemExit), job_log(log):
        raise SystemExit(130)
    text = log.read_text()
    assert "job exited with status 130" in text and "Traceback" not in text


def test_every_attempt_is_kept_beside_the_log(tmp_path):
    """Snakemake deletes ``log:`` before a re-run; ``<log>.attempts`` keeps the killed attempt's lines."""
    log = tmp_path / "job.log"
    with pytest.raises(SystemExit), job_log(log):
        print("iteration 40: stopped by signal")
        raise SystemExit(143)
    log.unlink()  # what Snakemake does before running the job again
    with job_log(log):
        print("resuming at iteration 30")
    history = history_path(log).read_text()
    assert "stopped by signal" in history and "resuming at iteration 30" in history
    assert history.count("===== attempt started") == 2
    assert "stopped by signal" not in log.read_text()
