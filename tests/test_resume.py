"""A training job killed mid-way (SIGKILL or SIGTERM) continues from its last checkpoint on re-run."""

import os
import re
import signal
import subprocess
import sys
import time

import psutil
import pytest
import yaml
from conftest import REPO, run_snakemake, tiny_config

pytestmark = pytest.mark.workflow

TARGET = "results/source/miou.json"


def start_snakemake(workdir):
    return subprocess.Popen(
        [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
         "--cores", "1", TARGET],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, so the whole run can be killed like Ctrl-C / a node loss
    )


def wait_for_checkpoints(workdir, rows, timeout=300):
    """Wait until the training CSV log has ``rows`` rows, i.e. a few checkpoints were written."""
    log = workdir / "work/source/state/train_log.csv"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and len(log.read_text().splitlines()) > rows:
            return
        time.sleep(0.2)
    raise TimeoutError(f"{log} did not reach {rows} rows")


def training_job(snakemake_process):
    for child in psutil.Process(snakemake_process.pid).children(recursive=True):
        if any("train_source" in part for part in child.cmdline()):
            return child
    raise LookupError("no train_source job process found")


def resumed_iteration(workdir):
    match = re.findall(r"resuming from \S+ at iteration (\d+)", (workdir / "logs/train_source.log").read_text())
    return int(match[-1]) if match else None


@pytest.fixture
def config(workdir):
    config = tiny_config()
    config["training"].update(checkpoint_every=10, log_every=10)
    config["training"]["source"].update(iterations=300)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return config


def finish_and_check(workdir):
    result = run_snakemake(workdir, "--rerun-incomplete", TARGET)
    assert result.returncode == 0, result.stdout[-3000:]
    assert (workdir / TARGET).exists()
    rows = (workdir / "results/source/train_log.csv").read_text().split()[1:]
    iterations = [int(row.split(",")[0]) for row in rows]
    assert iterations == list(range(10, 301, 10))  # one row per interval: nothing lost, nothing twice


def test_sigkill_of_the_whole_run_resumes_from_last_checkpoint(workdir, config):
    process = start_snakemake(workdir)
    wait_for_checkpoints(workdir, rows=4)  # row 40 logged: checkpoint 30 is on disk
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (workdir / "work/source/model.pt").exists()
    # A killed Snakemake leaves its directory lock behind; the user unlocks, then re-runs.
    assert run_snakemake(workdir, "--unlock").returncode == 0
    finish_and_check(workdir)
    assert resumed_iteration(workdir) >= 30


def test_sigterm_of_the_job_checkpoints_then_resumes(workdir, config):
    process = start_snakemake(workdir)
    wait_for_checkpoints(workdir, rows=4)  # row 40 logged: checkpoint 30 is on disk
    training_job(process).send_signal(signal.SIGTERM)
    assert process.wait(timeout=120) != 0  # the job stopped early, so this run failed
    assert "checkpointing after this iteration" in (workdir / "logs/train_source.log").read_text()
    assert not (workdir / "work/source/model.pt").exists()
    finish_and_check(workdir)
    assert resumed_iteration(workdir) >= 30
    # Snakemake empties a job's log before re-running it; the attempts file beside it keeps both runs.
    history = (workdir / "logs/train_source.log.attempts").read_text()
    assert history.count("===== attempt started") == 2
    first, second = history.split("===== attempt started")[1:]
    assert "checkpointing after this iteration" in first and "resuming from" in second
