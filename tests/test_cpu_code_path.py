"""compute.cpu_code_path: the portable code path gives the same numbers on another CPU, and reaches every job."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline_lib.engine import cpu_code_path

REPO = Path(__file__).resolve().parents[1]
PROBE = REPO / "tests" / "cpu_probe.py"
# An AVX2-only Intel CPU, emulated instruction by instruction: another vendor, instruction set and cache layout.
OTHER_CPU = "Haswell"


def test_native_sets_nothing_and_a_misspelt_path_names_the_key() -> None:
    environ: dict[str, str] = {}
    assert cpu_code_path.apply("native", environ) == {}
    assert environ == {}
    with pytest.raises(ValueError, match="compute.cpu_code_path: 'fast' is not one of portable, native"):
        cpu_code_path.apply("fast", environ)


@pytest.mark.skipif(not cpu_code_path.is_x86_64(), reason="the portable code path is x86-64's baseline")
def test_portable_limits_every_library_to_its_baseline() -> None:
    environ: dict[str, str] = {}
    variables = cpu_code_path.apply("portable", environ)
    assert environ == variables
    assert variables["ATEN_CPU_CAPABILITY"] == "avx2"
    assert variables["MKL_CBWR"] == "COMPATIBLE"
    assert "X86_V3" not in variables["NPY_DISABLE_CPU_FEATURES"].split()  # AVX2 stays, AVX-512 goes
    child = subprocess.run(
        [sys.executable, "-c", "import torch; torch.ones(2).sum(); print(torch.backends.cpu.get_cpu_capability())"],
        env={**os.environ, **variables},
        capture_output=True,
        text=True,
        check=True,
    )
    assert child.stdout.strip() in ("AVX2", "DEFAULT")  # DEFAULT only on a CPU without AVX2


def _qemu() -> str:
    """The user-mode emulator, installed with apt-get where the tests may (root on Debian/Ubuntu); else skip."""
    if not cpu_code_path.is_x86_64():
        pytest.skip("the emulated CPU is x86-64")
    if shutil.which("qemu-x86_64") is None and shutil.which("apt-get") and os.geteuid() == 0:
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True, check=False)
        subprocess.run(["apt-get", "install", "-y", "-qq", "qemu-user"], capture_output=True, check=False)
    qemu = shutil.which("qemu-x86_64")
    if qemu is None:
        pytest.skip("qemu-x86_64 is missing and could not be installed (needs root and apt-get)")
    return qemu


def _probe(environ: dict[str, str], emulate: str | None = None) -> str:
    # The real interpreter, not a venv's symlink: qemu runs the file it is given.
    interpreter = os.path.realpath(sys.executable)
    command = [interpreter, str(PROBE)] if emulate is None else [_qemu(), "-cpu", emulate, interpreter, str(PROBE)]
    python_path = os.pathsep.join([str(REPO), *sys.path[1:]])
    result = subprocess.run(
        command, env={**environ, "PYTHONPATH": python_path}, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_portable_numbers_are_the_same_on_another_cpu() -> None:
    """Training steps and demo data, bit for bit, on this CPU and an emulated Haswell.

    With each library's own choice (native) the fingerprints differ between an AVX-512 host and the
    emulated CPU; that is checked too where this host has AVX-512, so the probe is shown to notice.
    """
    variables = cpu_code_path.portable_environment()
    portable = {**os.environ, **variables}
    assert _probe(portable, emulate=OTHER_CPU) == _probe(portable)
    native = {name: value for name, value in os.environ.items() if name not in variables}
    if _native_capability(native) == "AVX512":
        assert _probe(native, emulate=OTHER_CPU) != _probe(native)


def _native_capability(environ: dict[str, str]) -> str:
    return subprocess.run(
        [sys.executable, "-c", "import torch; print(torch.backends.cpu.get_cpu_capability())"],
        env=environ,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
