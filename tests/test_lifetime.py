"""A job lives no longer than its Snakemake, and two jobs never train into one state folder."""

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml
from conftest import REPO, tiny_config

from pipeline_lib.engine.lifetime import StateDirBusy, hold_state_lock, release_state_lock


def _wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {seconds} s for {what}")
        time.sleep(0.2)


def test_a_second_process_is_refused_naming_the_holder(tmp_path):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import sys, time
            from pipeline_lib.engine.lifetime import hold_state_lock
            hold_state_lock({str(tmp_path / "state")!r})
            print("held", flush=True)
            time.sleep(60)
        """),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(
            StateDirBusy, match=rf"state: another job is training into this folder \(pid {holder.pid} on "
        ):
            hold_state_lock(tmp_path / "state")
    finally:
        holder.kill()
        holder.wait()
    hold_state_lock(tmp_path / "state")  # the kernel released the dead holder's lock
    hold_state_lock(tmp_path / "state")  # and this process may take it again


@pytest.mark.workflow
def test_killing_snakemake_stops_its_training_job(tmp_path):
    config = tiny_config()
    config["training"]["source"]["iterations"] = 100000
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    snakemake = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "snakemake",
            "--snakefile",
            str(REPO / "Snakefile"),
            "--directory",
            str(tmp_path),
            "--cores",
            "2",
            "work/source/model.pt",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    lock = tmp_path / "work/source/state/lock"
    try:
        _wait_for(lambda: lock.exists() and lock.read_text().startswith("pid "), 300, "the training job's lock")
        job = int(lock.read_text().split()[1])
        assert Path(f"/proc/{job}").exists()
    finally:
        snakemake.send_signal(signal.SIGKILL)
        snakemake.wait()
    _wait_for(lambda: not Path(f"/proc/{job}").exists() or _zombie(job), 20, f"job {job} to stop")
    log = (tmp_path / "logs/train_source.log").read_text()
    assert f"stops if Snakemake (pid {snakemake.pid}) dies" in log
    assert f"Snakemake (pid {snakemake.pid}) is gone: stopping this job" in log


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_a_released_lock_can_be_taken_by_another_process(tmp_path):
    hold_state_lock(tmp_path / "state")
    release_state_lock(tmp_path / "state")
    taken = subprocess.run(
        [
            sys.executable,
            "-c",
            f"from pipeline_lib.engine.lifetime import hold_state_lock; hold_state_lock({str(tmp_path / 'state')!r})",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert taken.returncode == 0, taken.stderr
