"""Case ``realsize``: every method's chain at real resolution before anyone spends a GPU week on it.

The real overlays (``workflow/configs/real_gta5.yaml``, then per network ``real_gta5_cbst.yaml``) run
unchanged on the real-size synthetic world (``workflow/configs/real_size_world.yaml``: GTA5 1914x1052,
Cityscapes 2048x1024, a handful of frames): their networks (DeepLab-v2 ResNet-101, CBST's ResNet-38),
crops, batches, scales and evaluation protocol. Only what a bench must change is changed
(``OVERRIDES``): 2 iterations per training job, one self-training round, the CBST overlay's round-0
model trained instead of imported, and random initial weights (no ImageNet file offline).

Per job it records, from the job's own log ("job done in <s> s, peak RSS <MB> MB", or the error
line of a failed job): wall time, peak RSS, and whether it finished; per chain, the output shapes
the results report (the evaluated label size, the mIoU's class count). ``--quick`` runs the source
chain only (one training iteration, the world's two validation frames): it checks the case end to end.
On a GPU machine (the ``device`` tool) the same command records the GPU jobs' times there.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from bench.common import REPO, Stopwatch

CONFIGS = REPO / "workflow" / "configs"
CORES = 2
#: Chain name -> (overlays merged after config.yaml, targets).
CHAINS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "deeplabv2_resnet101": (
        ("real_gta5.yaml", "real_size_world.yaml"),
        (
            "results/source/miou.json",
            *(f"results/{m}/round1/miou.json" for m in ("st", "cbst", "cbst_sp", "mlsl_sisc", "mlsl_sisc_pwl")),
            *(f"results/adaptseg_{variant}/miou.json" for variant in ("single", "multi", "lsgan")),
            "results/dasac_baseline/miou.json",
            "results/dasac/miou.json",
            "results/cpsl_warmup/miou.json",
            *(f"results/cpsl/stage{stage}/miou.json" for stage in (1, 2, 3)),
        ),
    ),
    "resnet38": (
        ("real_gta5.yaml", "real_gta5_cbst.yaml", "real_size_world.yaml"),
        ("results/source/miou.json", "results/cbst_sp/round1/miou.json"),
    ),
}
#: What the bench changes in every chain: iterations, rounds and files it cannot have.
OVERRIDES = {
    "training": {"seeds": [0], "checkpoint_every": 1, "log_every": 1, "source": {"iterations": 2}},
    "model": {"imagenet_weights": None},
    "self_training": {
        "rounds": 1,
        "round0_model": None,
        "target_list": None,
        "training": {"iterations": 2, "epochs": None},
    },
    "adaptseg": {"iterations": 2},
    "dasac": {"baseline": {"iterations": 2}, "sac": {"iterations": 2}},
    "cpsl": {
        "warmup": {"iterations": 2},
        "stage1": {"iterations": 2},
        "distillation": {"iterations": 2, "student_init": None},
    },
}
QUICK = {"training": {"source": {"iterations": 1}}}


def _merge(base: dict, extra: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in extra.items():
        merged[key] = _merge(merged.get(key, {}), value) if isinstance(value, dict) else value
    return merged


def job_rows(workdir: Path) -> list[dict]:
    """One row per job log: its name, seconds and peak RSS when it finished, else its last error line."""
    from pipeline_lib.report.job_times import job_record

    rows = []
    for log in sorted((workdir / "logs").rglob("*.log")):
        record = job_record(log)
        name = log.relative_to(workdir / "logs").with_suffix("").as_posix()
        if record is not None:
            rows.append({"job": name, "seconds": round(record[0], 1), "peak_rss_mb": round(record[1]), "status": "ok"})
        else:
            errors = [line for line in log.read_text(errors="replace").splitlines() if "Error" in line]
            rows.append({"job": name, "seconds": None, "peak_rss_mb": None,
                         "status": errors[-1][-200:] if errors else "did not finish"})
    return rows


def result_shapes(workdir: Path, targets: tuple[str, ...]) -> dict[str, dict]:
    """What each scored target's miou.json says about its outputs."""
    shapes = {}
    for target in targets:
        path = workdir / target
        if path.exists():
            scores = json.loads(path.read_text())
            matrix = scores["confusion_matrix"]
            shapes[target] = {"images": scores["images"], "classes": len(matrix),
                              "labelled_pixels": int(sum(map(sum, matrix)))}
    return shapes


def run_chain(name: str, quick: bool) -> tuple[list[dict], dict]:
    overlays, targets = CHAINS[name]
    if quick:
        targets = targets[:1]
    overrides = _merge(OVERRIDES, QUICK) if quick else OVERRIDES
    with tempfile.TemporaryDirectory(prefix=f"udaflow-bench-realsize-{name}-") as tmp:
        workdir = Path(tmp)
        (workdir / "config.yaml").write_text((REPO / "config.yaml").read_text())
        (workdir / "bench.yaml").write_text(yaml.safe_dump(overrides))
        configs = [str(CONFIGS / overlay) for overlay in overlays] + [str(workdir / "bench.yaml")]
        command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory",
                   str(workdir), "--cores", str(CORES), "--keep-going", *targets, "--configfile", *configs]
        with Stopwatch() as timer:
            done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        rows = [{"chain": name, **row} for row in job_rows(workdir)]
        summary = {
            "overlays": list(overlays),
            "targets": list(targets),
            "returncode": done.returncode,
            "seconds": round(timer.seconds, 1),
            "outputs": result_shapes(workdir, targets),
            "snakemake_tail": done.stdout[-1500:] if done.returncode else "",
        }
    return rows, summary


def run(quick: bool) -> tuple[dict, list[dict]]:
    rows: list[dict] = []
    chains = {}
    for name in CHAINS if not quick else ("deeplabv2_resnet101",):
        chain_rows, chains[name] = run_chain(name, quick)
        rows += chain_rows
    payload = {
        "what": "every method's chain with the real overlays on the real-size synthetic world, "
        f"{1 if quick else 2} iteration(s) per training job, --cores {CORES}",
        "target": "every job finishes; wall time and peak memory per job",
        "overrides": _merge(OVERRIDES, QUICK) if quick else OVERRIDES,
        "chains": chains,
        "results": rows,
    }
    return payload, rows


COLUMNS = ["chain", "job", "seconds", "peak_rss_mb", "status"]
