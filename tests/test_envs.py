"""requirements.lock satisfies pyproject.toml, the conda environments (``snakemake --sdm conda``) pin the
lock's versions of exactly what the jobs need, and every rule that runs a job names one of them."""

import importlib.util
import re
import sys

import pytest
import yaml
from conftest import REPO
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11


def _lockfile_module():
    spec = importlib.util.spec_from_file_location("lockfile", REPO / "tools" / "lockfile.py")
    module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)  # dataclasses look it up there
    spec.loader.exec_module(module)
    return module


lockfile = _lockfile_module()
LOCK_TEXT = (REPO / "requirements.lock").read_text()
LOCK = lockfile.read_lock(LOCK_TEXT)
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
ENVS = sorted(lockfile.ENVS)


def pyproject_requirements() -> list[Requirement]:
    """The dependencies and every extra's requirements."""
    project = PYPROJECT["project"]
    lines = project["dependencies"] + [line for extra in project["optional-dependencies"].values() for line in extra]
    return [Requirement(line) for line in lines]


def env_pins(env: str) -> tuple[list, dict[str, str]]:
    """The conda part of an env file (without its ``pip:`` entry) and its pip pins {package: version}."""
    conda, pins = [], {}
    for entry in yaml.safe_load((REPO / "envs" / env).read_text())["dependencies"]:
        if isinstance(entry, dict):
            for line in entry["pip"]:
                name, equals, version = line.partition("==")
                assert equals and version, f"{env}: pip entry {line!r} is not name==version"
                pins[lockfile.normalized(name)] = version
        else:
            conda.append(entry)
    return conda, pins


def test_lock_pins_every_pyproject_requirement_within_its_specifier():
    for requirement in pyproject_requirements():
        name = lockfile.normalized(requirement.name)
        assert name in LOCK.versions, f"requirements.lock has no {name}: run `make lock`"
        assert requirement.specifier.contains(LOCK.versions[name], prereleases=True), (
            f"requirements.lock pins {name}=={LOCK.versions[name]}, pyproject.toml asks {requirement}: run `make lock`"
        )
    assert "udaflow" not in LOCK.versions  # `make install` installs it from the checkout


def test_lock_names_no_machine_and_honours_its_constraints():
    """Exact public versions only (pip matches torch==2.13.0 to the CPU wheel where one is offered), no
    path or URL of the machine that made it, and the target that `make lock` resolved for."""
    assert len(LOCK.versions) > 50
    assert not [v for v in LOCK.versions.values() if "+" in v], "local version labels: run `make lock`"
    assert not re.search(r"file:|://|(^|\s)/", LOCK_TEXT), "requirements.lock names a path or URL"
    assert SpecifierSet(PYPROJECT["project"]["requires-python"]).contains(LOCK.python)
    assert LOCK.platform.startswith("x86_64-manylinux")
    constraints = (REPO / "tools" / "lock-constraints.txt").read_text()
    for name, version in re.findall(r"^([\w.-]+)==(\S+)", constraints, flags=re.MULTILINE):
        assert LOCK.versions[lockfile.normalized(name)] == Version(version).public


@pytest.mark.parametrize("env", ENVS)
def test_env_pins_the_lock_versions(env):
    conda, pins = env_pins(env)
    assert conda == [f"python={LOCK.python}", "pip"]
    differing = {name: (pin, LOCK.versions.get(name)) for name, pin in pins.items() if pin != LOCK.versions.get(name)}
    assert not differing, f"envs/{env} vs requirements.lock ({{package: (env, lock)}}): {differing}; run `make lock`"


@pytest.mark.parametrize("env", ENVS)
def test_env_holds_the_runtime_closure(env):
    """The env's packages are its pyproject.toml requirements and, following the lock's ``# via``
    annotations, everything they need and nothing else."""
    extra = lockfile.ENVS[env][0]
    roots = set(lockfile.env_roots(PYPROJECT, extra))
    packages = set(env_pins(env)[1])
    assert roots <= packages, f"envs/{env} lacks {sorted(roots - packages)}"
    assert not packages & lockfile.NOT_IN_ENVS
    for name in LOCK.versions:
        parents = LOCK.parents[name] & packages
        if parents:
            assert name in packages, f"envs/{env} lacks {name}, which {sorted(parents)} need"
    for name in packages - roots:
        assert LOCK.parents.get(name, set()) & packages, f"envs/{env}: nothing in it needs {name}"


@pytest.mark.parametrize("env", ENVS)
def test_env_is_what_make_lock_writes(env):
    extra, purpose = lockfile.ENVS[env]
    packages = lockfile.runtime_closure(LOCK, lockfile.env_roots(PYPROJECT, extra))
    assert (REPO / "envs" / env).read_text() == lockfile.conda_env(LOCK, packages, purpose, extra), (
        f"envs/{env} is not what `make lock` writes from requirements.lock: run it (never edit the env file)"
    )


def test_every_job_rule_names_an_existing_conda_env():
    """Each rule with a script (every job) has ``conda:``, and the env constants point at files in envs/."""
    common = (REPO / "rules/common.smk").read_text()
    envs = dict(re.findall(r'^(CONDA_ENV\w*) = "\.\./(envs/[\w.]+\.yaml)"', common, flags=re.MULTILINE))
    assert envs and all((REPO / path).is_file() for path in envs.values())
    rules = []
    for rule_file in sorted((REPO / "rules").glob("*.smk")):
        for name, body in re.findall(r"^rule (\w+):\n((?:[ \t]+.*\n|\n)*)", rule_file.read_text(), flags=re.MULTILINE):
            if "script:" in body or "shell:" in body:
                rules.append(name)
                conda = re.search(r"conda:\s*\n\s*(\S+)", body)
                assert conda and conda[1] in envs, f"{rule_file.name}: rule {name} has no conda env from {sorted(envs)}"
    assert "evaluate" in rules and "report_scores" in rules
    official = (REPO / "rules/evaluate.smk").read_text().split("rule official_evaluation:", 1)[1].split("\nrule ", 1)[0]
    assert "CONDA_ENV_OFFICIAL" in official  # the only rule that imports cityscapesscripts
