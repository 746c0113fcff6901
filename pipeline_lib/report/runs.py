"""Which results the report shows: the workflow's default targets, and every round/stage before them.

Results live at ``results/<method>/[round<r>|stage<s>]/miou.json`` (rules/evaluate.smk). A default
target ``results/cbst_sp/round3/miou.json`` puts rounds 1-3 of ``cbst_sp`` in the mIoU-per-round
plot; ``results/cpsl/stage3/miou.json`` stages 1-3 of ``cpsl``; ``results/dasac/miou.json`` one
point. A method that adds its targets with ``DEFAULT_TARGETS.extend(...)`` appears without any change
here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

#: The source-only run: round 0 of every round-based method (self-training round 1 fine-tunes it,
#: ``pipeline_lib.selftrain.rounds.previous_model``) and the reference line of every plot.
SOURCE = "source"
STEP_KINDS = ("round", "stage")
_TARGET = re.compile(r"results/(?P<method>[a-z][a-z0-9_]*)(?:/(?P<kind>round|stage)(?P<step>[1-9]\d*))?/miou\.json")


@dataclass(frozen=True)
class Run:
    """One result: a method, and its round or stage when it has several."""

    method: str
    kind: str | None = None  # "round" | "stage" | None for a single result
    step: int | None = None

    @property
    def name(self) -> str:
        """``cbst_sp/round3``: the run's folder under ``results/`` (``pipeline_lib.summary.run_name``)."""
        return self.method if self.kind is None else f"{self.method}/{self.kind}{self.step}"

    @property
    def miou(self) -> str:
        return f"results/{self.name}/miou.json"

    @property
    def visuals(self) -> str:
        return f"results/{self.name}/visuals"


def parse_run(name: str) -> Run:
    """``cbst_sp/round3`` -> Run("cbst_sp", "round", 3); the inverse of ``Run.name``."""
    return parse_target(f"results/{name}/miou.json")


def parse_target(path: str) -> Run:
    match = _TARGET.fullmatch(path)
    if match is None:
        raise ValueError(
            f"report: default target {path!r} is not results/<method>/[round<r>|stage<s>]/miou.json"
        )
    step = match["step"]
    return Run(match["method"], match["kind"], int(step) if step else None)


def final_runs(targets: Iterable[str]) -> list[Run]:
    """The runs of the mIoU results among ``targets`` (others, e.g. summary.csv, are not results)."""
    runs = [parse_target(target) for target in targets if target.endswith("/miou.json")]
    return list(dict.fromkeys(runs))


def step_runs(targets: Iterable[str]) -> list[Run]:
    """Every run up to each target's round/stage (round 1..r), in target order, without repeats."""
    runs: list[Run] = []
    for final in final_runs(targets):
        if final.kind is None:
            runs.append(final)
        else:
            runs.extend(Run(final.method, final.kind, step) for step in range(1, final.step + 1))
    return list(dict.fromkeys(runs))


def used_starts(targets: Iterable[str], starts: dict[str, str]) -> dict[str, str]:
    """The stage-0 runs (``REPORT_STARTS``) of the staged methods among ``targets``: a warm-up is scored
    (and trained) for the report only when its method is reported."""
    methods = {run.method for run in final_runs(targets)}
    return {method: start for method, start in starts.items() if method in methods}


def scored_runs(targets: Iterable[str], starts: dict[str, str]) -> list[str]:
    """The ``miou.json`` of every run the summary and the report show: each round/stage up to every
    target's (``step_runs``), then the warm-ups (``used_starts``) they start from."""
    paths = [run.miou for run in step_runs(targets)]
    paths += [f"results/{start}/miou.json" for start in used_starts(targets, starts).values()]
    return list(dict.fromkeys(paths))


def trained_runs(targets: Iterable[str], starts: dict[str, str]) -> list[str]:
    """Run names of the report's training curves: the scored runs (``scored_runs``), seed 0's."""
    return [path.removeprefix("results/").removesuffix("/miou.json") for path in scored_runs(targets, starts)]


def train_log(name: str, self_training_methods: Iterable[str]) -> str:
    """Where the training job of run ``name`` writes its losses: under work/ for a self-training round
    (rules/self_training.smk), else beside the run's results."""
    run = parse_run(name)
    if run.method in set(self_training_methods) and run.kind == "round":
        return f"work/{run.name}/train_log.csv"
    return f"results/{run.name}/train_log.csv"


#: Where the report's figures and tables go (rules/report.smk).
REPORT_DIR = "results/report"


def pseudo_label_methods(targets: Iterable[str], self_training_methods: Iterable[str]) -> list[str]:
    """Self-training methods among ``targets``: their pseudo-labels get statistics and panels."""
    known = set(self_training_methods)
    return list(dict.fromkeys(run.method for run in final_runs(targets) if run.method in known))


def report_outputs(targets: Iterable[str], self_training_methods: Iterable[str]) -> list[str]:
    """Every report() output for ``targets`` (``snakemake --report`` needs them all on disk)."""
    targets = list(targets)
    return [
        f"{REPORT_DIR}/miou.png",
        f"{REPORT_DIR}/per_class_iou.html",
        f"{REPORT_DIR}/validation_panels.png",
        f"{REPORT_DIR}/training.png",
        f"{REPORT_DIR}/job_times.csv",
        *(
            f"{REPORT_DIR}/pseudo_labels/{method}/{figure}.png"
            for method in pseudo_label_methods(targets, self_training_methods)
            for figure in ("statistics", "panels")
        ),
    ]
