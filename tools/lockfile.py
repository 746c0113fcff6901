"""requirements.lock after ``uv pip compile``, and the conda environments written from it (``make lock``).

The lock pins every package of ``pip install -e ".[test]"``. The job environments pin the same
versions: envs/udaflow.yaml holds the runtime closure of pyproject.toml's dependencies except
snakemake (jobs run their scripts with the running Snakemake's package on the path),
envs/official.yaml the same plus the ``official`` extra. What a package needs is read from the
lock's ``# via`` annotations, so the environments are computed from the lock alone.

    python tools/lockfile.py requirements.lock --python 3.11 --platform x86_64-manylinux_2_28
"""

from __future__ import annotations

import argparse
import re
import textwrap
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

#: In pyproject.toml but not in a job environment (see the module docstring).
NOT_IN_ENVS = {"snakemake"}

#: Environment file -> (pyproject extra it adds to the dependencies, what it is for).
ENVS = {
    "udaflow.yaml": (None, "Conda environment of every udaflow job"),
    "official.yaml": ("official", "Conda environment of the official-evaluator cross-check, rule official_evaluation"),
}

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_PIN = re.compile(rf"^(?P<name>{_NAME.pattern})==(?P<version>\S+)$")
_TARGET = re.compile(r"^# Target: Python (?P<python>\S+) on (?P<platform>[^\s,]+)")


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class Lock:
    """The pins of a uv-annotated lock file."""

    versions: dict[str, str] = field(default_factory=dict)  # package -> exact version
    parents: dict[str, set[str]] = field(default_factory=dict)  # package -> its `# via` entries
    python: str = ""  # from the "# Target:" header line
    platform: str = ""


def read_lock(text: str) -> Lock:
    lock, current, in_via = Lock(), None, False
    for line in text.splitlines():
        if target := _TARGET.match(line):
            lock.python, lock.platform = target["python"], target["platform"]
        elif pin := _PIN.match(line):
            current, in_via = normalized(pin["name"]), False
            lock.versions[current] = pin["version"]
            lock.parents[current] = set()
        elif current and (via := re.match(r"^\s+# via(?P<entry>.*)$", line)):
            in_via = True
            _add_parent(lock, current, via["entry"])
        elif current and in_via and (entry := re.match(r"^\s+#\s+(?P<entry>\S.*)$", line)):
            _add_parent(lock, current, entry["entry"])
        elif line.strip() and not line.startswith("#"):
            raise ValueError(f"requirements.lock: unexpected line {line!r} (only name==version pins and comments)")
    return lock


def _add_parent(lock: Lock, name: str, entry: str) -> None:
    """A ``# via`` entry: a package name, or a source such as ``udaflow (pyproject.toml)`` or ``-c file``."""
    entry = entry.strip()
    if entry:
        lock.parents[name].add(normalized(entry) if _NAME.fullmatch(entry) else entry)


def runtime_closure(lock: Lock, roots: list[str]) -> set[str]:
    """``roots`` and every lock entry that one of them needs, directly or through others."""
    children: dict[str, set[str]] = {}
    for name, parents in lock.parents.items():
        for parent in parents:
            children.setdefault(parent, set()).add(name)
    closure, todo = set(), [normalized(root) for root in roots]
    while todo:
        name = todo.pop()
        if name in closure:
            continue
        if name not in lock.versions:
            raise ValueError(f"requirements.lock has no pin for {name}")
        closure.add(name)
        todo.extend(children.get(name, ()))
    return closure


def requirement_name(requirement: str) -> str:
    return normalized(_NAME.match(requirement.strip())[0])


def env_roots(pyproject: dict, extra: str | None) -> list[str]:
    """The pyproject.toml requirements an environment installs (names)."""
    project = pyproject["project"]
    lines = project["dependencies"] + (project["optional-dependencies"][extra] if extra else [])
    return [name for name in map(requirement_name, lines) if name not in NOT_IN_ENVS]


def conda_env(lock: Lock, packages: set[str], purpose: str, extra: str | None) -> str:
    contents = "pyproject.toml's dependencies" + (f" plus its `{extra}` extra" if extra else "")
    about = (
        f"{purpose} (snakemake --sdm conda): {contents}, and everything they need, at the lock's exact "
        "versions, except snakemake itself (jobs run their scripts with the running Snakemake's package on "
        "the path). Python and pip come from conda-forge, the rest from PyPI through pip (conda-forge does "
        "not carry every PyPI version). PyPI's torch for Linux is the CUDA build: on a CPU-only machine "
        "export PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu before the environment is created "
        "to get the CPU build of the same version."
    )
    header = (
        "# GENERATED by `make lock` (tools/lockfile.py) from requirements.lock: change pyproject.toml and\n"
        "# run `make lock` instead of editing this file; tests/test_envs.py checks that the two agree.\n"
        + textwrap.fill(about, width=100, initial_indent="# ", subsequent_indent="# ", break_on_hyphens=False)
        + "\n"
    )
    pins = "".join(f"      - {name}=={lock.versions[name]}\n" for name in sorted(packages))
    return (
        header
        + "channels:\n  - conda-forge\n  - nodefaults\n"
        + f"dependencies:\n  - python={lock.python}\n  - pip\n  - pip:\n{pins}"
    )


def finish_lock(text: str, python: str, platform: str) -> str:
    """Drop local version labels and record the lock's target under uv's header.

    ``torch==2.13.0+cpu`` becomes ``torch==2.13.0``: pip matches that to the CPU wheel wherever one
    is offered (a find-links folder, PyTorch's CPU index), and the lock names no machine's source.
    """
    text = re.sub(rf"^({_NAME.pattern}==[^+\s]+)\+\S+$", r"\1", text, flags=re.MULTILINE)
    lines = [line for line in text.splitlines() if not _TARGET.match(line)]
    body = next(i for i, line in enumerate(lines) if not line.startswith("#"))
    target = f"# Target: Python {python} on {platform}, torch's CPU build (made with --find-links to it)."
    return "\n".join(lines[:body] + [target] + lines[body:]) + "\n"


def write_envs(lock: Lock, repo: Path = REPO) -> None:
    pyproject = tomllib.loads((repo / "pyproject.toml").read_text())
    for env, (extra, purpose) in ENVS.items():
        packages = runtime_closure(lock, env_roots(pyproject, extra))
        (repo / "envs" / env).write_text(conda_env(lock, packages, purpose, extra))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("lock", type=Path)
    parser.add_argument("--python", required=True, help="the Python version the lock was resolved for")
    parser.add_argument("--platform", required=True, help="the platform the lock was resolved for")
    args = parser.parse_args(argv)
    text = finish_lock(args.lock.read_text(), args.python, args.platform)
    args.lock.write_text(text)
    write_envs(read_lock(text))


if __name__ == "__main__":
    main()
