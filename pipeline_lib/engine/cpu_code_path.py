"""Which CPU instructions torch, numpy and OpenCV may use: the same numbers on every x86-64 CPU.

Each library picks its kernels by the CPU it finds: ATen's vectorised loops (AVX-512, AVX2 or
plain), oneDNN's convolutions, MKL's matrix products and exponentials, numpy's SIMD loops and
OpenCV's resize and blur. Kernels for two instruction sets round differently in the last bit, and
the demo's 600 SGD iterations grow that bit into whole mIoU points (``python -m bench
cpu_code_path`` trains the demo's source model under each code path).

``portable`` (the default) holds every library to x86-64-v3 (AVX2 + FMA, every x86-64 server CPU
since 2015), MKL to its conditional-numerical-reproducibility branch (the same code on every x86
CPU) and convolutions to ATen's own im2col + GEMM instead of oneDNN, whose kernels block their loops
by the CPU's cache sizes. Checked bit for bit: a few training steps of the demo network and demo
frames agree on an AVX-512 AMD EPYC and on an emulated Intel Haswell (``qemu-x86_64 -cpu Haswell``;
tests/test_cpu_code_path.py); with each library's own choice they differ, and with oneDNN held to
AVX2 (or SSE4.1) the training steps still differ. It costs CPU time (the same bench case times
it). ``native`` leaves the choice to each library: fastest, but the numbers are this CPU's.
GPU kernels are not affected either way; a CPU without AVX2 runs torch's plain loops (``describe``
says so).

The libraries read these variables once, when they load or first compute, so they must be in the
environment of the process before it starts: the Snakefile sets them for every job it launches, and
each job turns oneDNN off itself (``configure_torch``, from ``pipeline_lib.joblog.job_log``).
"""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping, MutableMapping

CODE_PATHS = ("portable", "native")

#: Names the code path for the job processes (``configure_torch``).
CODE_PATH_VARIABLE = "UDAFLOW_CPU_CODE_PATH"
#: The x86-64-v3 level of torch's libraries: ATen's AVX2 loops, oneDNN's AVX2 kernels where any op
#: still reaches it, and MKL's COMPATIBLE branch (its AVX2 branch differs between CPUs in GEMM and exp).
TORCH_PORTABLE = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "MKL_CBWR": "COMPATIBLE",
}
#: The last SIMD target each library may use: numpy's and OpenCV's names for AVX2 + FMA.
NUMPY_LEVEL = "X86_V3"
OPENCV_LEVEL = "AVX2"


def numpy_targets_above_level() -> list[str]:
    """numpy's SIMD targets beyond x86-64-v3 (``X86_V4 AVX512_ICL ...``), in its ascending order."""
    from numpy._core import _multiarray_umath

    targets = list(_multiarray_umath.__cpu_dispatch__)
    return targets[targets.index(NUMPY_LEVEL) + 1 :] if NUMPY_LEVEL in targets else []


def opencv_targets_above_level() -> list[str]:
    """OpenCV's SIMD targets beyond AVX2 that this CPU has: ``*AVX512-SKX`` in its feature line (``?`` = absent).

    Naming one this CPU lacks would make every process print a warning.
    """
    import cv2

    dispatched = [token.lstrip("*") for token in cv2.getCPUFeaturesLine().split() if token.startswith("*")]
    names = [name.rstrip("?") for name in dispatched]
    if OPENCV_LEVEL not in names:
        return []
    return [name for name in dispatched[names.index(OPENCV_LEVEL) + 1 :] if not name.endswith("?")]


def portable_environment() -> dict[str, str]:
    """The variables that hold torch, numpy and OpenCV to x86-64-v3 and MKL to its reproducible branch."""
    return {
        CODE_PATH_VARIABLE: "portable",
        **TORCH_PORTABLE,
        "NPY_DISABLE_CPU_FEATURES": " ".join(numpy_targets_above_level()),
        "OPENCV_CPU_DISABLE": ",".join(opencv_targets_above_level()),
    }


def is_x86_64() -> bool:
    return platform.machine().lower() in ("x86_64", "amd64")


def apply(code_path: str, environ: MutableMapping[str, str] = os.environ) -> dict[str, str]:
    """Set ``code_path``'s variables in ``environ`` (for the processes started after this) and return them.

    ``native`` and machines other than x86-64 set nothing: there the libraries choose for themselves.
    """
    if code_path not in CODE_PATHS:
        raise ValueError(f"config key compute.cpu_code_path: {code_path!r} is not one of {', '.join(CODE_PATHS)}")
    if code_path == "native" or not is_x86_64():
        return {}
    variables = portable_environment()
    environ.update(variables)
    return variables


def configure_torch(environ: Mapping[str, str] = os.environ) -> None:
    """In a job of the portable code path, run CPU convolutions without oneDNN (ATen's im2col + MKL GEMM)."""
    if environ.get(CODE_PATH_VARIABLE) == "portable":
        import torch

        torch.backends.mkldnn.enabled = False


def describe(environ: Mapping[str, str] = os.environ) -> dict[str, str | None]:
    """What this process runs: torch's kernel level and the variables that chose it (for provenance)."""
    import torch

    variables = (CODE_PATH_VARIABLE, *TORCH_PORTABLE, "NPY_DISABLE_CPU_FEATURES", "OPENCV_CPU_DISABLE")
    return {
        "cpu": _cpu_model(),
        "torch_capability": torch.backends.cpu.get_cpu_capability(),
        "onednn_convolutions": torch.backends.mkldnn.enabled,
        **{name: environ.get(name) for name in variables},
    }


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None
