"""What every bench case shares: the machine description, peak tables, isolated measurements, output."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import platform
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"

#: Dense bf16 tensor-core peaks in TFLOP/s (vendor data sheets, no 2:4 sparsity), matched against
#: ``torch.cuda.get_device_name`` in this order, so the more specific names come first.
BF16_PEAK_TFLOPS: tuple[tuple[str, float], ...] = (
    ("GH200", 989.0),
    ("H200", 989.0),
    ("H100 PCIe", 756.0),
    ("H100 NVL", 835.0),
    ("H100", 989.0),  # SXM5
    ("H800", 989.0),
    ("H20", 148.0),
    ("B200", 2250.0),
    ("A100", 312.0),
    ("A800", 312.0),
    ("A40", 149.7),
    ("A30", 165.0),
    ("A10G", 70.0),
    ("A10", 125.0),
    ("L40S", 362.0),
    ("L40", 181.0),
    ("L4", 121.0),
    ("RTX 6000 Ada", 364.0),
    ("RTX A6000", 154.8),
    ("RTX 4090", 165.2),
    ("RTX 3090", 71.0),
)


def bf16_peak_tflops(device_name: str) -> float | None:
    """The table entry for a CUDA device name; None for GPUs without bf16 tensor cores or not listed."""
    for key, peak in BF16_PEAK_TFLOPS:
        if key in device_name:
            return peak
    return None


@dataclass(frozen=True)
class Device:
    """Where a GPU case runs: CUDA when present, else the CPU with a note that says so."""

    kind: str  # "cuda" or "cpu"
    name: str
    memory_gb: float | None
    bf16_peak_tflops: float | None
    note: str

    @property
    def tag(self) -> str:
        return "gpu" if self.kind == "cuda" else "cpu"


def detect_device() -> Device:
    import torch

    if torch.cuda.is_available():
        name = torch.cuda.get_device_name(0)
        memory = torch.cuda.get_device_properties(0).total_memory / 2**30
        peak = bf16_peak_tflops(name)
        note = "" if peak else f"{name} is not in bench.common.BF16_PEAK_TFLOPS: no peak-fraction column"
        return Device("cuda", name, round(memory, 1), peak, note)
    return Device(
        "cpu", cpu_model(), None, None,
        "no GPU: measured on the CPU in float32 (autocast, channels-last and pinning are CUDA-only switches), "
        "so the engine/reference ratio shows only the fused views and the removed host syncs",
    )


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_state() -> dict[str, Any]:
    """The measured code's revision; earlier cases' result files in ``bench/results`` do not make it dirty."""
    from pipeline_lib.provenance import git_revision

    return git_revision(REPO, ignore=(str(RESULTS.relative_to(REPO)),))


def versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in ("torch", "numpy", "pillow", "opencv-python-headless", "h5py", "snakemake", "cityscapesscripts"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def machine() -> dict[str, Any]:
    """The machine as the results need it: CPU, cores usable, memory, GPU, and the load when measured."""
    import torch

    try:
        memory_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError):
        memory_gb = None
    device = detect_device()
    return {
        "host": platform.node(),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpu_cores_usable": len(os.sched_getaffinity(0)),
        "torch_threads": torch.get_num_threads(),
        "memory_gb": memory_gb,
        "gpu": None if device.kind == "cpu" else {"name": device.name, "memory_gb": device.memory_gb,
                                                  "bf16_peak_tflops": device.bf16_peak_tflops},
    }


def rss_mb() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    """Resident set size now (``/proc/self/statm``), unlike ``rss_mb``'s all-time peak."""
    resident_pages = int(Path("/proc/self/statm").read_text().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / 2**20


class PeakRss:
    """Peak RSS above the RSS at entry, sampled every ``interval`` seconds by a background thread.

    The process's all-time peak (``ru_maxrss``) would include transients of imports made before the
    measured block; sampling sees only the block.
    """

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.peak_mb = 0.0

    def _sample(self) -> None:
        while not self._stop.is_set():
            self._highest = max(self._highest, current_rss_mb())
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRss:
        import threading

        self._baseline = self._highest = current_rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self._highest, current_rss_mb()) - self._baseline


def _isolated(target: Callable[..., dict], args: tuple, queue) -> None:
    try:
        queue.put(("ok", target(*args)))
    except BaseException as err:  # report the child's failure in the parent instead of hanging
        queue.put(("error", f"{type(err).__name__}: {err}"))


def isolated(target: Callable[..., dict], *args: Any) -> dict:
    """Run ``target(*args)`` in a fresh process (spawned: no inherited CUDA or thread state) for a clean peak RSS.

    ``target`` returns a dict; its ``baseline_mb`` (RSS after imports) is subtracted when present.
    """
    context = mp.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_isolated, args=(target, args, queue))
    process.start()
    status, result = queue.get()
    process.join()
    if status != "ok":
        raise RuntimeError(f"{target.__name__}{args}: {result}")
    return result


class Stopwatch:
    """Wall time of a block, synchronising CUDA first so queued kernels are counted."""

    def __init__(self, cuda: bool = False) -> None:
        self.cuda = cuda
        self.seconds = 0.0

    def _sync(self) -> None:
        if self.cuda:
            import torch

            torch.cuda.synchronize()

    def __enter__(self) -> Stopwatch:
        self._sync()
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._sync()
        self.seconds = time.perf_counter() - self.started


def print_table(title: str, rows: list[dict[str, Any]], columns: list[str]) -> None:
    """A plain-text table of ``columns`` of ``rows``, as the README reproduces it."""
    cells = [[_format(row.get(column)) for column in columns] for row in rows]
    widths = [max(len(column), *(len(line[i]) for line in cells)) for i, column in enumerate(columns)]
    print(f"\n{title}")
    print("  ".join(column.ljust(width) for column, width in zip(columns, widths, strict=True)))
    print("  ".join("-" * width for width in widths))
    for line in cells:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))


def _format(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def write_json(path: Path, document: dict) -> None:
    """Write a result JSON whole or not at all (through a temporary file beside it)."""
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(document, indent=2) + "\n")
    tmp.replace(path)


def write_result(
    case: str, payload: dict[str, Any], quick: bool, device_tag: str, load_at_start: list[float],
    out_dir: Path = RESULTS,
) -> Path:
    """``<out_dir>/<case>_<cpu|gpu>[_quick].json`` with the machine, versions and git state around ``payload``."""
    info = machine()
    info["load_average_at_start"] = load_at_start
    info["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    document = {
        "case": case,
        "mode": "quick" if quick else "full",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "git": git_state(),
        "versions": versions(),
        "machine": info,
        **payload,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{case}_{device_tag}{'_quick' if quick else ''}.json"
    write_json(path, document)
    print(f"written {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
    return path
