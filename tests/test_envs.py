"""The conda environments (``snakemake --sdm conda``) hold the same packages as pyproject.toml, and every
rule that runs a job names one of them."""

import re

import pytest
import yaml
from conftest import REPO
from packaging.requirements import Requirement

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

#: In pyproject.toml but not in a job environment: Snakemake runs the jobs' scripts with its own
#: package on the path, so the environments do not install it a second time.
NOT_IN_ENVS = {"snakemake"}
_CONDA_SPEC = re.compile(r"(?P<name>[A-Za-z0-9_.-]+)\s*(?P<spec>.*)")


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pyproject_requirements(extra: str | None = None) -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    lines = project["dependencies"] + (project["optional-dependencies"][extra] if extra else [])
    requirements = {normalized(r.name): str(r.specifier) for r in map(Requirement, lines)}
    return {name: spec for name, spec in requirements.items() if name not in NOT_IN_ENVS}


def sorted_spec(spec: str) -> str:
    return ",".join(sorted(spec.split(","))) if spec else ""


def env_packages(path) -> tuple[dict[str, str], str]:
    """{package: version specifier} of a conda env file (conda and pip parts), and its python spec."""
    packages, python = {}, ""
    for entry in yaml.safe_load(path.read_text())["dependencies"]:
        for line in entry["pip"] if isinstance(entry, dict) else [entry]:
            match = _CONDA_SPEC.fullmatch(line.strip())
            name, spec = normalized(match["name"]), match["spec"].replace(" ", "")
            if name == "python":
                python = spec
            elif name != "pip":
                packages[name] = sorted_spec(spec)
    return packages, python


@pytest.mark.parametrize(("env", "extra"), [("udaflow.yaml", None), ("official.yaml", "official")])
def test_env_matches_pyproject(env, extra):
    packages, python = env_packages(REPO / "envs" / env)
    expected = {name: sorted_spec(spec) for name, spec in pyproject_requirements(extra).items()}
    assert packages == expected
    requires_python = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    assert requires_python in python.split(","), f"{env}: python {python} vs requires-python {requires_python}"


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
