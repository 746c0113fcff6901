"""Case ``realsize``: every method's chain at real resolution before anyone spends a GPU week on it.

The real overlays (``workflow/configs/real_gta5.yaml``, then per network ``real_gta5_cbst.yaml``) run
unchanged on the real-size synthetic world (``workflow/configs/real_size_world.yaml``: GTA5 1914x1052,
Cityscapes 2048x1024, a handful of frames): their networks (DeepLab-v2 ResNet-101, CBST's ResNet-38),
crops, batches, scales and evaluation protocol. Only what a bench must change is changed
(``OVERRIDES``): 2 iterations per training job, one self-training round, the CBST overlay's round-0
model trained instead of imported, random initial weights (no ImageNet file offline; ``CHAIN_OVERRIDES``),
the world's frame counts per device (``WORLD``: one target train frame on a CPU, one target batch on a
GPU), and on a CPU one micro-batch per iteration for the three methods whose paper step takes tens of GB
and many minutes of 2 cores (``CPU_MICRO_BATCHES``; ``PAPER_STEP_MICRO_BATCHES`` scales its time to
the paper's step, memory is the micro-batch's as with accumulation). That keeps all five chains
within about an hour of 2 cores (the README's chain table).

One chain per method family (``CHAINS``), each in its own empty directory and its own JSON
(``bench/results/realsize_<chain>_<cpu|gpu>.json``; their wall times are in the README's table), and
``--chains`` picks some. Per job it records, from the job's own log ("job done in <s> s, peak RSS <MB>
MB[, peak GPU memory <MB> MB]", or the error line of a failed job): wall time, peak memory, its rates
and whether it finished; per chain, the output shapes the results report (the evaluated label size, the
mIoU's class count) and the disk its intermediate files take per frame or job (``disk_usage``).
``--quick`` runs the source chain only (one training iteration): it checks the case end to end. On a
GPU machine (the ``device`` tool) the same command records the GPU jobs' times there; ``--keep-dir``
keeps the chains' directories, whose job logs ``python -m bench.realsize`` can read again.
"""

from __future__ import annotations

import contextlib
import copy
import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import yaml

from bench.common import REPO, Stopwatch

CONFIGS = REPO / "workflow" / "configs"
CORES = 2
R101 = ("real_gta5.yaml", "real_size_world.yaml")
#: Chain name -> (overlays merged after config.yaml, targets).
CHAINS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "self_training": (
        R101,
        (
            "results/source/miou.json",
            *(f"results/{m}/round1/miou.json" for m in ("st", "cbst", "cbst_sp", "mlsl_sisc", "mlsl_sisc_pwl")),
        ),
    ),
    "adaptseg": (R101, tuple(f"results/adaptseg_{variant}/miou.json" for variant in ("single", "multi", "lsgan"))),
    "dasac": (R101, ("results/dasac_baseline/miou.json", "results/dasac/miou.json")),
    "cpsl": (
        R101,
        ("results/cpsl_warmup/miou.json", *(f"results/cpsl/stage{stage}/miou.json" for stage in (1, 2, 3))),
    ),
    "resnet38": (
        ("real_gta5.yaml", "real_gta5_cbst.yaml", "real_size_world.yaml"),
        ("results/source/miou.json", "results/cbst_sp/round1/miou.json"),
    ),
}
#: What the bench changes in every chain: iterations, rounds, files it cannot have (and a world of a few
#: frames, ``WORLD``: costs per frame are what the README's arithmetic scales up).
OVERRIDES = {
    "demo": {"cityscapes_val_count": 1},
    "training": {"seeds": [0], "checkpoint_every": 1, "log_every": 1, "source": {"iterations": 2}},
    "model": {"imagenet_weights": None},
    "self_training": {
        "rounds": 1,
        "shards": 1,
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
#: The world's frames per device and chain (``demo`` keys over real_size_world.yaml's). On a CPU one
#: Cityscapes train frame, as every prediction job's time grows with them; self-training then needs 34
#: GTA5 frames, whose initial source portion (0.03) gives the one source frame beside the target in its
#: batch of 2; DA-SAC's micro-batch draws 2 target crops. On a GPU two (the steady rate between two
#: frames leaves out the first one's cuDNN autotuning), and one batch of the paper's: DA-SAC ABN's 8
#: target crops, CPSL's 4.
SELF_TRAINING_CPU_WORLD = {"cityscapes_train_count": 1, "gta5_count": 34}
WORLD: dict[str, dict[str, dict[str, int]]] = {
    "cpu": {"self_training": SELF_TRAINING_CPU_WORLD, "resnet38": SELF_TRAINING_CPU_WORLD,
            "adaptseg": {"cityscapes_train_count": 1}, "dasac": {"cityscapes_train_count": 2},
            "cpsl": {"cityscapes_train_count": 1}},
    "gpu": {"self_training": {"cityscapes_train_count": 2}, "resnet38": {"cityscapes_train_count": 2},
            "adaptseg": {"cityscapes_train_count": 2}, "dasac": {"cityscapes_train_count": 8},
            "cpsl": {"cityscapes_train_count": 4}},
}
#: On a CPU, per chain: the methods whose paper step takes tens of GB and many minutes of 2 cores train
#: one micro-batch per iteration (accumulation 1): DA-SAC ABN 3 + 2 of its 12 + 8 crops of 640x640, SAC
#: 2 of its 8 crops of 512x1024 and 1 of its 2 groups of 4 views, CPSL 1 + 1 of its 4 + 4 crops of
#: 512x896, CBST's ResNet-38 source training 1 of its 16 crops of 504x504. Memory is one micro-batch's,
#: as it is with the paper's step accumulated; ``PAPER_STEP_MICRO_BATCHES`` turns the time into the step's.
CPU_MICRO_BATCHES: dict[str, dict] = {
    "dasac": {
        "dasac": {
            "baseline": {"batch_size": 3, "target_batch_size": 2, "accumulation_steps": 1},
            "sac": {"batch_size": 2, "target_groups": 1, "accumulation_steps": 1},
        }
    },
    "cpsl": {"cpsl": {"batch_size": 1, "accumulation_steps": 1}},
    "resnet38": {"training": {"source": {"batch_size": 1, "accumulation_steps": 1}}},
}
#: Per chain, the CPU micro-batches (``CPU_MICRO_BATCHES``) that make one paper step, by job (regex over
#: the log name): a CPU iteration's time times this is the step's. SAC's 4 is its source crops' (8 / 2);
#: its target groups need only 2 micro-batches (2 / 1), so 4 is an upper bound there.
PAPER_STEP_MICRO_BATCHES: dict[str, dict[str, int]] = {
    "dasac": {"train_dasac_baseline": 4, "train_dasac": 4},
    "cpsl": {r"cpsl/(train_warmup|stage\d)": 4},
    "resnet38": {"train_source": 16},
}
#: Intermediate files by kind, for the disk arithmetic: (kind, glob under the chain's directory, unit).
#: Unit "Cityscapes train frame": the kind's bytes over the target train frames; any other unit: one
#: file is one unit (a label PNG per frame, a model per training job). Per-round kinds are one method's
#: round, so they add up per round and method rather than over the chain's methods.
DISK_KINDS = (
    ("converted GTA5 labels", "data/converted/gta5/*_labels/*.png", "GTA5 frame"),
    ("converted Cityscapes labels (train + val)", "data/converted/cityscapes/*_labels/*.png", "Cityscapes frame"),
    ("CBST-SP prediction store (a round)", "work/cbst_sp/round1/predictions/*.h5", "Cityscapes train frame"),
    ("CBST-SP pseudo-labels (a round)", "work/cbst_sp/round1/pseudo_labels/*/*.png", "Cityscapes train frame"),
    ("CPSL soft labels of the warm-up", "work/cpsl/warmup/soft_labels.h5", "Cityscapes train frame"),
    ("CPSL hard labels (a stage)", "work/cpsl/stage2/pseudo_labels.h5", "Cityscapes train frame"),
    ("model.pt (a training job)", "work/**/model.pt", "training job"),
)
#: Per chain, on every device: CBST's ResNet-38 freezes BN at the ImageNet statistics; from random
#: weights (no ImageNet file offline) it has none, its loss starts near 400 and the paper's LR turned
#: the weights to NaN within 2 iterations. A bench measures cost, which does not depend on the LR.
CHAIN_OVERRIDES = {
    "resnet38": {"training": {"source": {"lr": 1.0e-12}}, "self_training": {"training": {"lr": 1.0e-12}}},
}
QUICK = {"training": {"source": {"iterations": 1}}}


def merge_config(base: dict, extra: dict) -> dict:
    """``extra`` over ``base`` key by key, as Snakemake merges --configfile overlays (lists replaced whole)."""
    merged = copy.deepcopy(base)
    for key, value in extra.items():
        merged[key] = merge_config(merged.get(key, {}), value) if isinstance(value, dict) else value
    return merged


#: A progress line's count and average rate: the trainer's ``[2/2] ... | 0.169 it/s |`` or
#: ``pipeline_lib.progress``'s ``evaluated [1/2] ... | 0.5 img/s |``.
_PROGRESS = re.compile(r"\[\s*(\d+)/\d+\][^\n]*?\| ([0-9.]+) (\w+)/s \|")


def progress_lines(text: str) -> list[tuple[int, float, str]]:
    """(count, average rate, unit) of each progress line of a log."""
    return [(int(count), float(rate), unit) for count, rate, unit in _PROGRESS.findall(text)]


def steady_rate(lines: list[tuple[int, float, str]]) -> float | None:
    """Units per second between a log's last two progress lines: the average rates they print cover the
    job from its start, so on a GPU the first iteration (cuDNN autotuning, lazy CUDA start-up) dominates
    a 2-iteration average; the interval after it does not. None with fewer than two lines."""
    lines = [line for line in lines if line[1] > 0]
    if len(lines) < 2 or lines[-1][2] != lines[-2][2]:
        return None
    (first, first_rate, _), (last, last_rate, _) = lines[-2], lines[-1]
    seconds = last / last_rate - first / first_rate
    return (last - first) / seconds if last > first and seconds > 0 else None


def job_rows(workdir: Path) -> list[dict]:
    """One row per job log: its name, seconds, peak RSS (and GPU memory on a GPU) and last progress rate
    (iterations or images per second) when it finished, else its last error line."""
    from pipeline_lib.report.job_times import job_record

    rows = []
    for log in sorted((workdir / "logs").rglob("*.log")):
        text = log.read_text(errors="replace")
        record = job_record(log)
        name = log.relative_to(workdir / "logs").with_suffix("").as_posix()
        lines = progress_lines(text)
        rate = {"rate": lines[-1][1], "rate_unit": f"{lines[-1][2]}/s"} if lines else {"rate": None}
        steady = steady_rate(lines)
        rate["steady_rate"] = None if steady is None else float(f"{steady:.3g}")
        if record is not None:
            gpu = None if record.peak_gpu_mb is None else round(record.peak_gpu_mb)
            rows.append({"job": name, "seconds": round(record.seconds, 1), "peak_rss_mb": round(record.peak_rss_mb),
                         "peak_gpu_mb": gpu, "rate_unit": "", **rate, "status": "ok"})
        else:
            errors = [line for line in text.splitlines() if "Error" in line]
            rows.append({"job": name, "seconds": None, "peak_rss_mb": None, "peak_gpu_mb": None, "rate_unit": "",
                         **rate, "status": errors[-1][-200:] if errors else "did not finish"})
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


def disk_usage(workdir: Path) -> dict[str, dict]:
    """Bytes and files of each kind of intermediate file (``DISK_KINDS``), and bytes per unit of the kind."""
    frames = _target_train_frames(workdir)
    usage = {}
    for kind, pattern, unit in DISK_KINDS:
        files = [path for path in workdir.glob(pattern) if path.is_file()]
        units = frames if unit == "Cityscapes train frame" else len(files)
        if files and units:
            total = sum(path.stat().st_size for path in files)
            usage[kind] = {"files": len(files), "bytes": total, "unit": unit, "bytes_per_unit": round(total / units)}
    return usage


def _target_train_frames(workdir: Path) -> int:
    listing = workdir / "data/converted/cityscapes/train.csv"
    return max(len(listing.read_text().splitlines()) - 1, 0) if listing.exists() else 0


def chain_overrides(chain: str, quick: bool, on_cpu: bool) -> dict:
    """The bench's changes to ``chain``'s overlays: ``OVERRIDES``, ``QUICK``, the device's ``WORLD`` and on a
    CPU the chain's micro-batches."""
    overrides = merge_config(OVERRIDES, QUICK) if quick else OVERRIDES
    overrides = merge_config(overrides, CHAIN_OVERRIDES.get(chain, {}))
    overrides = merge_config(overrides, {"demo": WORLD["cpu" if on_cpu else "gpu"][chain]})
    return merge_config(overrides, CPU_MICRO_BATCHES.get(chain, {})) if on_cpu else overrides


def micro_batches_per_step(chain: str, job: str, on_cpu: bool) -> int:
    """How many of the job's iterations make one paper step: ``PAPER_STEP_MICRO_BATCHES`` on a CPU, else 1."""
    if not on_cpu:
        return 1
    return next((count for pattern, count in PAPER_STEP_MICRO_BATCHES.get(chain, {}).items()
                 if re.fullmatch(pattern, job)), 1)


def chain_rows(chain: str, workdir: Path, on_cpu: bool) -> list[dict]:
    """``job_rows`` of a chain's directory, each with its chain and ``micro_batches_per_step``."""
    return [{"chain": chain, **row, "micro_batches_per_step": micro_batches_per_step(chain, row["job"], on_cpu)}
            for row in job_rows(workdir)]


def _chain_directory(name: str, keep_dir: Path | None) -> contextlib.AbstractContextManager[str]:
    """An empty directory for the chain: ``keep_dir/<name>`` (kept, for reading the job logs afterwards)
    or a temporary one removed when the chain ends."""
    if keep_dir is None:
        return tempfile.TemporaryDirectory(prefix=f"udaflow-bench-realsize-{name}-")
    directory = keep_dir / name
    if directory.exists() and any(directory.iterdir()):
        raise SystemExit(f"realsize: {directory} is not empty; a chain starts from an empty directory")
    directory.mkdir(parents=True, exist_ok=True)
    return contextlib.nullcontext(str(directory))


def run_chain(name: str, quick: bool, on_cpu: bool, cores: int = CORES,
              keep_dir: Path | None = None) -> tuple[list[dict], dict]:
    overlays, targets = CHAINS[name]
    if quick:
        targets = targets[:1]
    overrides = chain_overrides(name, quick, on_cpu)
    with _chain_directory(name, keep_dir) as tmp:
        workdir = Path(tmp)
        (workdir / "config.yaml").write_text((REPO / "config.yaml").read_text())
        (workdir / "bench.yaml").write_text(yaml.safe_dump(overrides))
        configs = [str(CONFIGS / overlay) for overlay in overlays] + [str(workdir / "bench.yaml")]
        command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory",
                   str(workdir), "--cores", str(cores), "--keep-going", *targets, "--configfile", *configs]
        with Stopwatch() as timer:
            done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        rows = chain_rows(name, workdir, on_cpu)
        summary = {
            "overlays": list(overlays),
            "targets": list(targets),
            "overrides": overrides,
            "cores": cores,
            "returncode": done.returncode,
            "seconds": round(timer.seconds, 1),
            "outputs": result_shapes(workdir, targets),
            "target_train_frames": _target_train_frames(workdir),
            "disk": disk_usage(workdir),
            "snakemake_tail": done.stdout[-1500:] if done.returncode else "",
        }
    return rows, summary


def run(quick: bool, chains: list[str] | None = None, on_cpu: bool = True, cores: int = CORES,
        keep_dir: Path | None = None) -> Iterator[tuple[str, dict, list[dict]]]:
    """(chain, JSON payload, table rows) of each chain as it finishes, so its JSON is written before the
    next starts: ``chains`` (default every one; quick: the source training of the self-training chain),
    Snakemake's ``--cores``, and where to keep each chain's directory (default: removed)."""
    names = ["self_training"] if quick else (chains or list(CHAINS))
    unknown = [name for name in names if name not in CHAINS]
    if unknown:
        raise SystemExit(f"realsize: unknown chain(s) {', '.join(unknown)} (known: {', '.join(CHAINS)})")
    for name in names:
        rows, summary = run_chain(name, quick, on_cpu, cores, keep_dir)
        payload = {
            "what": f"the {name} chain with the real overlays on the real-size synthetic world, "
            f"{1 if quick else 2} iteration(s) per training job, --cores {cores}"
            + (", one micro-batch per iteration" if on_cpu and name in CPU_MICRO_BATCHES else ""),
            "target": "every job finishes; wall time, peak memory and disk per job",
            "chain": summary,
            "results": rows,
        }
        yield name, payload, rows


COLUMNS = ["chain", "job", "seconds", "peak_rss_mb", "peak_gpu_mb", "rate", "steady_rate", "rate_unit", "status"]


def reread(chain_dir: Path, result: Path) -> None:
    """Rewrite a chain JSON's per-job rows from the job logs of its kept directory (``--keep-dir``), e.g.
    after a device run, when this module reads more from a log than the code that ran it did; the rest
    of the JSON (machine, versions, disk, timings of the chain) stays as measured."""
    from bench.common import git_state, write_json

    document = json.loads(result.read_text())
    chain = result.stem.removeprefix("realsize_").rsplit("_", 1)[0]
    if not (chain_dir / "logs").is_dir():
        raise SystemExit(f"realsize reread: {chain_dir} has no logs/ folder (a --keep-dir chain directory)")
    document["results"] = chain_rows(chain, chain_dir, on_cpu=not document["machine"].get("gpu"))
    document["rows_reread"] = {"from": f"the job logs of {chain_dir.name}/logs", "git": git_state()}
    write_json(result, document)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.realsize", description=reread.__doc__.splitlines()[0])
    parser.add_argument("chain_dir", type=Path, help="a chain's kept directory (--keep-dir DIR: DIR/<chain>)")
    parser.add_argument("result", type=Path, help="its bench/results/realsize_<chain>_<cpu|gpu>.json")
    arguments = parser.parse_args()
    reread(arguments.chain_dir, arguments.result)
