"""A private single-node Slurm on this machine, to run the workflow through workflow/profiles/slurm.

Debian's slurm-wlm and munge, started by hand (no systemd): munged, slurmctld and slurmd run in the
foreground in their own sessions, with their own MUNGE key and socket, free ports, state and logs in
one folder, so a MUNGE already running on the machine is left alone. The one shared file is
/etc/slurm/slurm.conf, where every Slurm command looks (the slurm-jobstep executor drops SLURM_CONF
before its srun): it is written with a marker line and removed again, and a configuration without
the marker (a machine with its own Slurm) is never touched. Recipe: shared/spec/slurm_localhost.md
(no accounting daemon, so the profile polls with squeue).

As root::

    python3 tests/slurm_localhost.py up /tmp/udaflow-slurm      # installs the packages when missing
    sinfo                                                          # debug* up infinite 1 idle <host>
    python3 tests/slurm_localhost.py down /tmp/udaflow-slurm
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil

PACKAGES = ("slurm-wlm", "munge")
DAEMONS = ("munged", "slurmctld", "slurmd")
PARTITION = "debug"
CONF = Path("/etc/slurm/slurm.conf")
MARKER = "# private single-node cluster of udaflow's tests/slurm_localhost.py"


class SlurmUnavailable(RuntimeError):
    """Slurm cannot be installed or started here (not root, no apt-get, no package mirror, ...)."""


def install() -> None:
    """apt-get install slurm-wlm and munge when a binary is missing; daemons are not started by the packages."""
    if all(shutil.which(tool) for tool in ("slurmctld", "slurmd", "munged", "sbatch", "mungekey")):
        return
    if os.geteuid() != 0:
        raise SlurmUnavailable("slurm-wlm/munge are not installed and installing them needs root")
    if not shutil.which("apt-get"):
        raise SlurmUnavailable("slurm-wlm/munge are not installed and there is no apt-get to install them")
    # Keep the packages' maintainer scripts from starting system daemons (exit 101 = "not allowed").
    policy = Path("/usr/sbin/policy-rc.d")
    created_policy = not policy.exists()
    if created_policy:
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        for command in (
            ["apt-get", "update", "-q"],
            ["apt-get", "install", "-y", "-q", "--no-install-recommends", *PACKAGES],
        ):
            result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
            if result.returncode != 0:
                raise SlurmUnavailable(f"{' '.join(command)} failed: {result.stderr.strip()[-500:]}")
    finally:
        if created_policy:
            policy.unlink()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _node_line() -> str:
    """This machine's hardware as slurmd sees it, e.g. ``NodeName=vm CPUs=2 ... RealMemory=24105``."""
    line = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=True).stdout.splitlines()[0]
    if not line.startswith("NodeName="):
        raise SlurmUnavailable(f"unexpected `slurmd -C` output: {line}")
    return line


class LocalSlurm:
    """The cluster living in ``root``; ``start`` records the daemons' PIDs in ``root/pids.json``."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        self.conf = CONF
        self.munge_socket = self.root / "munge" / "munge.socket"
        self.pid_file = self.root / "pids.json"

    def start(self, timeout: float = 60) -> None:
        if os.geteuid() != 0:
            raise SlurmUnavailable("starting munged, slurmctld and slurmd needs root")
        if self.conf.exists() and not self.conf.read_text().startswith(MARKER):
            raise SlurmUnavailable(f"{self.conf} exists and is not ours: this machine has its own Slurm, left alone")
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)  # the munge user reaches its socket folder through here
        for sub in ("state", "spool", "log"):
            (self.root / sub).mkdir(exist_ok=True)
        pids: dict[str, int] = {}
        try:
            pids["munged"] = self._start_munged()
            self._write_conf()
            pids["slurmctld"] = self._spawn("slurmctld", ["slurmctld", "-D", "-f", str(self.conf)])
            self._wait(lambda: "UP" in self._client(["scontrol", "ping"]), timeout, "slurmctld to answer")
            pids["slurmd"] = self._spawn("slurmd", ["slurmd", "-D", "-f", str(self.conf)])
            self._wait(lambda: self._client(["sinfo", "-h", "-o", "%t"]).strip() == "idle", timeout, "the node")
        finally:
            self.pid_file.write_text(json.dumps(pids))

    def stop(self, timeout: float = 30) -> None:
        """Cancel this cluster's jobs, then TERM (after ``timeout`` KILL) each recorded daemon by its PID."""
        if not self.pid_file.exists():
            return
        pids = json.loads(self.pid_file.read_text())
        if "slurmctld" in pids:
            subprocess.run(["scancel", "--full", "--user", pwd.getpwuid(os.getuid()).pw_name],
                           capture_output=True, timeout=30)
        daemons = []
        for name in reversed(DAEMONS):
            if name not in pids:
                continue
            try:
                process = psutil.Process(pids[name])
                if process.name() == name and process.status() != psutil.STATUS_ZOMBIE:
                    daemons.append(process)
            except psutil.NoSuchProcess:
                pass
        for process in daemons:
            process.terminate()
        _, alive = psutil.wait_procs(daemons, timeout=timeout)
        for process in alive:
            process.kill()
        psutil.wait_procs(alive, timeout=timeout)
        if self.conf.exists() and self.conf.read_text().startswith(MARKER):
            self.conf.unlink()
        self.pid_file.unlink()

    def _start_munged(self) -> int:
        """munged as the munge user, with its own key and socket (it refuses keys and folders it does not own)."""
        folder = self.munge_socket.parent
        folder.mkdir(exist_ok=True)
        shutil.chown(folder, "munge", "munge")
        folder.chmod(0o755)
        key = folder / "munge.key"
        if not key.exists():
            subprocess.run(["mungekey", "--create", f"--keyfile={key}"], user="munge", group="munge", check=True)
        pid = self._spawn("munged", [
            "munged", "--foreground", f"--socket={self.munge_socket}", f"--key-file={key}",
            f"--pid-file={folder / 'munged.pid'}", f"--seed-file={folder / 'munged.seed'}",
            f"--log-file={folder / 'munged.log'}",
        ], user="munge")
        self._wait(self.munge_socket.exists, 30, "munged's socket")
        return pid

    def _write_conf(self) -> None:
        node = _node_line()
        host = node.split()[0].removeprefix("NodeName=")
        self.conf.parent.mkdir(parents=True, exist_ok=True)
        self.conf.write_text(
            "\n".join([
                MARKER,
                "ClusterName=udaflowlocal",
                f"SlurmctldHost={host}(127.0.0.1)",
                f"SlurmctldPort={_free_port()}",
                f"SlurmdPort={_free_port()}",
                "SlurmUser=root",
                "AuthType=auth/munge",
                "CredType=cred/munge",
                f"AuthInfo=socket={self.munge_socket}",
                "MpiDefault=none",
                "ProctrackType=proctrack/linuxproc",
                "TaskPlugin=task/none",
                "AccountingStorageType=accounting_storage/none",
                "JobAcctGatherType=jobacct_gather/none",
                "JobCompType=jobcomp/none",
                "MailProg=/bin/true",
                "ReturnToService=2",
                f"StateSaveLocation={self.root / 'state'}",
                f"SlurmdSpoolDir={self.root / 'spool'}",
                f"SlurmctldPidFile={self.root / 'slurmctld.pid'}",
                f"SlurmdPidFile={self.root / 'slurmd.pid'}",
                f"SlurmctldLogFile={self.root / 'log' / 'slurmctld.log'}",
                f"SlurmdLogFile={self.root / 'log' / 'slurmd.log'}",
                "SlurmctldTimeout=30",
                "SlurmdTimeout=30",
                "InactiveLimit=0",
                "KillWait=5",
                "Waittime=0",
                "MinJobAge=300",  # finished jobs stay visible to squeue, which the profile polls
                "SchedulerType=sched/backfill",
                "SelectType=select/cons_tres",
                "SelectTypeParameters=CR_Core_Memory",
                "DefMemPerCPU=500",
                f"{node} NodeAddr=127.0.0.1 State=UNKNOWN",
                f"PartitionName={PARTITION} Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
                "",
            ])
        )

    def _spawn(self, name: str, command: list[str], user: str | None = None) -> int:
        log = (self.root / "log" / f"{name}.out").open("ab")
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True, user=user, group=user)
        log.close()
        return process.pid

    def _client(self, command: list[str]) -> str:
        result = subprocess.run(command, capture_output=True, text=True, timeout=30)
        return result.stdout if result.returncode == 0 else ""

    def _wait(self, ready, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if time.monotonic() > deadline:
                logs = "\n".join(
                    f"--- {path.name}\n{path.read_text(errors='replace')[-1500:]}"
                    for path in sorted((self.root / "log").glob("*")) + sorted(self.root.glob("munge/*.log"))
                )
                raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}\n{logs}")
            time.sleep(0.5)


def main(argv: list[str]) -> None:
    if len(argv) != 2 or argv[0] not in ("up", "down"):
        sys.exit("usage: slurm_localhost.py up|down FOLDER")
    cluster = LocalSlurm(argv[1])
    if argv[0] == "up":
        install()
        cluster.start()
    else:
        cluster.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
