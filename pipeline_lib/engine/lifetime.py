"""A job lives no longer than the Snakemake that started it, and one job at a time trains into a folder.

- ``stop_with_snakemake``: Snakemake runs a local job as a child of a shell, not of itself, so a
  parent-death signal would watch the shell. Instead a daemon thread watches the nearest ancestor
  process that is Snakemake (matched by its start time, so a reused PID does not count) and sends this
  process SIGTERM when it is gone: a trainer then checkpoints and stops, anything else ends. A job
  with no Snakemake ancestor (a Slurm job, a direct call) is left alone; its scheduler owns it.
- ``StateLock``: an exclusive ``flock`` on ``<state_dir>/lock`` held for the rest of the process
  (the job writes its outputs and deletes its checkpoint after training). The file names the holder's
  PID, host and start time; a second job is refused with that line. The kernel drops the lock when
  its holder dies, however it dies, so no stale lock survives a crash.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import socket
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)

LOCK_NAME = "lock"
POLL_SECONDS = 1.0
_held_locks: dict[Path, int] = {}  # lock file -> descriptor, kept open until the process exits


class StateDirBusy(RuntimeError):
    """Another live process holds the state folder's lock."""


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (field 3 onwards), or None if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def _parent_and_start(pid: int) -> tuple[int, str] | None:
    fields = _stat_fields(pid)
    return None if fields is None else (int(fields[1]), fields[19])  # ppid (field 4), starttime (field 22)


def _is_snakemake(pid: int) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(Path(arg.decode(errors="replace")).name == "snakemake" for arg in argv if arg)


def snakemake_ancestor(pid: int | None = None) -> tuple[int, str] | None:
    """(pid, start time) of the nearest Snakemake process above ``pid`` (default: this process)."""
    current = _parent_and_start(pid or os.getpid())
    while current is not None and current[0] > 1:
        parent = current[0]
        info = _parent_and_start(parent)
        if info is None:
            return None
        if _is_snakemake(parent):
            return parent, info[1]
        current = info
    return None


def _alive(pid: int, start: str) -> bool:
    info = _parent_and_start(pid)
    return info is not None and info[1] == start


def stop_with_snakemake() -> int | None:
    """Start the watcher if a Snakemake ancestor exists; returns its PID (None: nothing to watch)."""
    ancestor = snakemake_ancestor()
    if ancestor is None:
        return None
    pid, start = ancestor

    def watch() -> None:
        while _alive(pid, start):
            time.sleep(POLL_SECONDS)
        log.warning("Snakemake (pid %d) is gone: stopping this job", pid)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="snakemake-watch", daemon=True).start()
    return pid


def hold_state_lock(state_dir: str | Path) -> Path:
    """Lock ``state_dir`` for this process's lifetime, or raise ``StateDirBusy`` naming the holder."""
    path = Path(state_dir) / LOCK_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.resolve() in _held_locks:  # this process already trains here (e.g. a second stage of one job)
        return path
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(descriptor, 4096).decode(errors="replace").strip() or "an unknown process"
        os.close(descriptor)
        raise StateDirBusy(
            f"{Path(state_dir)}: another job is training into this folder ({holder}); "
            "stop it or let it finish, then run the command again"
        ) from None
    os.ftruncate(descriptor, 0)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    os.write(descriptor, f"pid {os.getpid()} on {socket.gethostname()} since {stamp}\n".encode())
    _held_locks[path.resolve()] = descriptor
    return path


def release_state_lock(state_dir: str | Path) -> None:
    """Give up this process's lock on ``state_dir`` (a process that prepared a folder for a job it starts)."""
    descriptor = _held_locks.pop((Path(state_dir) / LOCK_NAME).resolve(), None)
    if descriptor is not None:
        os.close(descriptor)  # closing the only descriptor drops the flock
