"""A training job killed mid-way (SIGKILL or SIGTERM) continues from its last checkpoint on re-run,
and a stopped-and-resumed job ends with the model an uninterrupted run makes."""

import os
import re
import signal
import subprocess
import sys
import time

import psutil
import pytest
import torch
import yaml
from conftest import REPO, run_snakemake, tiny_config

from pipeline_lib.models.serialization import load_model

pytestmark = pytest.mark.workflow

TARGET = "results/source/miou.json"


def start_snakemake(workdir, target=TARGET):
    return subprocess.Popen(
        [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
         "--cores", "1", target],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, so the whole run can be killed like Ctrl-C / a node loss
    )


def wait_for_checkpoints(workdir, rows, timeout=300, state="work/source/state"):
    """Wait until the training CSV log has ``rows`` rows, i.e. a few checkpoints were written."""
    log = workdir / state / "train_log.csv"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and len(log.read_text().splitlines()) > rows:
            return
        time.sleep(0.2)
    raise TimeoutError(f"{log} did not reach {rows} rows")


def training_job(snakemake_process, rule="train_source"):
    for child in psutil.Process(snakemake_process.pid).children(recursive=True):
        if any(rule in part for part in child.cmdline()):
            return child
    raise LookupError(f"no {rule} job process found")


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


def test_a_stopped_cpsl_warm_up_resumes_to_the_model_of_an_uninterrupted_run(tmp_path):
    """CPSL's warm-up (segmenter, discriminator, both optimisers, two data streams): SIGTERM mid-run and a
    re-run give bitwise the weights of a run that was never stopped, so a resumed demo seed is that seed."""
    config = tiny_config()
    config["training"].update(checkpoint_every=4, log_every=2)
    config["cpsl"].update(batch_size=2)
    config["cpsl"]["warmup"].update(iterations=40)
    target = "work/cpsl_warmup/model.pt"
    runs = {}
    for name in ("uninterrupted", "stopped"):
        workdir = tmp_path / name
        workdir.mkdir()
        (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        if name == "stopped":
            process = start_snakemake(workdir, target)
            wait_for_checkpoints(workdir, rows=6, state="work/cpsl_warmup/state")  # past checkpoint 8
            training_job(process, "cpsl_train_warmup").send_signal(signal.SIGTERM)
            assert process.wait(timeout=120) != 0
        result = run_snakemake(workdir, "--rerun-incomplete", target)
        assert result.returncode == 0, result.stdout[-3000:]
        runs[name] = load_model(workdir / target)[0].state_dict()
    assert "resuming from" in (tmp_path / "stopped/logs/cpsl/train_warmup.log").read_text()
    for key, tensor in runs["uninterrupted"].items():
        assert torch.equal(tensor, runs["stopped"][key]), key
