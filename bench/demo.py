"""Case ``demo``: wall time of the demo targets from an empty directory on 2 CPU cores, and a no-op re-run.

Runs this checkout's Snakefile with ``--cores 2`` (pinned to two cores when the machine has more) in
a scratch directory holding only ``config.yaml``: first ``results/source/miou.json`` (demo data,
label conversion, source training, evaluation), then ``results/cbst_sp/round3/miou.json`` (three
self-training rounds on that source model), then the same target again, which must do nothing.
Per-rule times come from the jobs' Snakemake ``benchmark:`` files, to show where the time goes.
``--quick`` shrinks the config (as ``tests/conftest.tiny_config`` does, and fewer fine-tuning
iterations): it checks the case end to end, its times say nothing about the target.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import pandas as pd
import yaml

from bench.common import REPO, Stopwatch

TARGETS = ("results/source/miou.json", "results/cbst_sp/round3/miou.json")
CORES = 2


def quick_config(config: dict) -> dict:
    config = copy.deepcopy(config)
    config["demo"].update(gta5_count=6, synthia_count=6, cityscapes_train_count=4, cityscapes_val_count=3)
    config["training"].update(seeds=[0], checkpoint_every=5, log_every=5)
    config["training"]["source"].update(iterations=10, batch_size=2)
    config["self_training"]["training"].update(iterations=5, batch_size=2)
    return config


def _pin_to_two_cores() -> None:
    cores = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, cores[:CORES])


def snakemake(workdir: Path, *targets: str) -> tuple[float, str]:
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory",
               str(workdir), "--cores", str(CORES), *targets]
    with Stopwatch() as timer:
        done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              preexec_fn=_pin_to_two_cores)
    if done.returncode != 0:
        raise RuntimeError(f"snakemake {' '.join(targets)} failed:\n{done.stdout[-3000:]}")
    return timer.seconds, done.stdout


def rule_times(workdir: Path) -> list[dict]:
    """Seconds and job count per rule, summed over the jobs' benchmark files (jobs may overlap in time)."""
    seconds: dict[str, float] = defaultdict(float)
    jobs: dict[str, int] = defaultdict(int)
    for path in sorted((workdir / "benchmarks").rglob("*.tsv")):
        relative = path.relative_to(workdir / "benchmarks")
        rule = relative.parts[0] if len(relative.parts) > 1 else relative.stem
        if rule == "self_training":
            rule = f"selftrain_{path.stem.split('_shard')[0]}"
        seconds[rule] += float(pd.read_csv(path, sep="\t")["s"].iloc[-1])
        jobs[rule] += 1
    return [{"rule": rule, "jobs": jobs[rule], "seconds": round(seconds[rule], 1)}
            for rule in sorted(seconds, key=seconds.get, reverse=True)]


def run(quick: bool) -> tuple[dict, list[dict]]:
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    if quick:
        config = quick_config(config)
    with tempfile.TemporaryDirectory(prefix="udaflow-bench-demo-") as tmp:
        workdir = Path(tmp)
        (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        source_seconds, _ = snakemake(workdir, TARGETS[0])
        chain_seconds, _ = snakemake(workdir, TARGETS[1])
        noop_seconds, output = snakemake(workdir, TARGETS[1])
        if "Nothing to be done" not in output:
            raise AssertionError(f"the re-run was not a no-op:\n{output[-2000:]}")
        per_rule = rule_times(workdir)
        miou = {target: json.loads((workdir / target).read_text())["miou"] for target in TARGETS}
    rows = [
        {"step": "results/source/miou.json from an empty directory", "seconds": round(source_seconds, 1)},
        {"step": "then results/cbst_sp/round3/miou.json", "seconds": round(chain_seconds, 1)},
        {"step": "total (target: under 300 s)", "seconds": round(source_seconds + chain_seconds, 1)},
        {"step": "no-op re-run", "seconds": round(noop_seconds, 2)},
    ]
    payload = {
        "what": f"snakemake --cores {CORES} of the demo targets from an empty directory, then a no-op re-run",
        "target": "results/cbst_sp/round3/miou.json (with the source model) under 5 minutes on 2 CPU cores",
        "config": "quick (shrunken, times not comparable)" if quick else "config.yaml as shipped",
        "results": rows,
        "miou": miou,
        "seconds_per_rule": per_rule,
    }
    return payload, rows


COLUMNS = ["step", "seconds"]
