"""The Slurm profile: the demo through a real single-node Slurm on this machine, and where jobs are placed.

The cluster test installs Debian's slurm-wlm and munge when missing (apt-get, as root), starts munged,
slurmctld and slurmd itself and stops them by their PIDs afterwards, also when the test fails
(tests/slurm_localhost.py). It is skipped, saying why, only where Slurm cannot be installed.
"""

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import pytest
import yaml
from conftest import REPO, tiny_config
from slurm_localhost import LocalSlurm, SlurmUnavailable, install

from pipeline_lib.data.labels import TRAIN_CLASSES

pytestmark = [
    pytest.mark.workflow,
    pytest.mark.skipif(
        importlib.util.find_spec("snakemake_executor_plugin_slurm") is None,
        reason="snakemake-executor-plugin-slurm is not installed (pip install -e '.[cluster]'; needs Python >= 3.11)",
    ),
]

PROFILES = ("--profile", str(REPO / "workflow/profiles/slurm"))
LOCALHOST = ("--profile", str(REPO / "workflow/profiles/slurm-localhost"))
TARGET = "results/source/miou.json"
GPU_RULES = {
    "train_source", "train_adaptseg", "selftrain_finetune", "selftrain_predict", "evaluate",
    "train_dasac_baseline", "dasac_importance_weights", "train_dasac",
    "cpsl_train_warmup",
    "cpsl_soft_labels", "cpsl_prototypes", "cpsl_class_distribution", "cpsl_stage1", "cpsl_hard_labels", "cpsl_distill",
}


def snakemake(workdir, *args, timeout=600):
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
         *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def slurm():
    try:
        install()
    except SlurmUnavailable as err:
        pytest.skip(f"Slurm cannot be installed here: {err}")
    cluster = LocalSlurm(tempfile.mkdtemp(prefix="udaflow-slurm-"))
    try:
        cluster.start()
        yield cluster
    except SlurmUnavailable as err:
        pytest.skip(str(err))
    finally:
        cluster.stop()
        shutil.rmtree(cluster.root, ignore_errors=True)


def finished_jobs():
    """Jobs this cluster still lists (finished ones stay MinJobAge = 300 s): comment -> fields."""
    out = subprocess.run(["squeue", "--states=all", "-h", "-o", "%k|%T|%C|%m|%l|%b"], capture_output=True,
                         text=True, check=True).stdout
    return {line.split("|")[0]: line.split("|")[1:] for line in out.splitlines()}


def test_demo_runs_through_the_slurm_profile_on_a_real_cluster(slurm, workdir):
    (workdir / "config.yaml").write_text(yaml.safe_dump(tiny_config(), sort_keys=False))
    result = snakemake(workdir, *PROFILES, *LOCALHOST, "--max-threads", str(os.cpu_count()), TARGET)
    assert result.returncode == 0, result.stdout[-4000:]
    scores = json.loads((workdir / TARGET).read_text())
    assert list(scores["per_class"]) == list(TRAIN_CLASSES) and 0 <= scores["miou"] <= 100
    submitted = re.findall(r"has been submitted with SLURM jobid (\d+)", result.stdout)
    assert len(submitted) == 5  # demo data, 2 label conversions, training, evaluation: each its own Slurm job
    jobs = finished_jobs()
    # The plugin joins the wildcard values with "_": train_source's and evaluate's are seed_dir ("" for
    # seed 0) and source_run / run.
    for comment in ("rule_generate_demo", "rule_convert_labels_wildcards_gta5_all",
                    "rule_convert_labels_wildcards_cityscapes_val", "rule_train_source_wildcards__source",
                    "rule_evaluate_wildcards__source"):
        assert jobs[comment][0] == "COMPLETED", (comment, jobs[comment])
        assert jobs[comment][4] == "N/A"  # no GPU request: the localhost profile turned them off
    # The rules' own resources reached Slurm: threads, runtime (minutes) and the profile's memory.
    assert jobs["rule_convert_labels_wildcards_gta5_all"][1:4] == [str(min(2, os.cpu_count())), "1000M", "2:00:00"]
    assert jobs["rule_train_source_wildcards__source"][1:4] == ["1", "1000M", "1-00:00:00"]


def dry_run_jobs(workdir, *profiles):
    """(rule, resources) of every job of the default targets, from a dry run with ``profiles``."""
    (workdir / "config.yaml").write_text(yaml.safe_dump(tiny_config(), sort_keys=False))
    result = snakemake(workdir, *profiles, "--dry-run", timeout=300)
    assert result.returncode == 0, result.stdout[-4000:]
    jobs = []
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", result.stdout):
        rule = re.match(r"(?:local)?rule (\w+):", block)
        resources = re.search(r"^\s+resources: (.*)$", block, re.MULTILINE)
        if rule and resources and rule.group(1) != "all":
            jobs.append((rule.group(1), dict(re.findall(r"(\w+)=([^,]+)", resources.group(1)))))
    return jobs


def test_slurm_profile_asks_gpus_for_training_and_prediction_only_and_shards_are_separate_jobs(workdir):
    jobs = dry_run_jobs(workdir, *PROFILES)
    config = tiny_config()["self_training"]
    gpu_jobs = {rule for rule, resources in jobs if resources.get("gpu", "0") != "0"}
    assert gpu_jobs == GPU_RULES
    assert all(resources["gpu"] == "1" for rule, resources in jobs if rule in GPU_RULES)
    cpu_rules = {rule for rule, _ in jobs} - GPU_RULES
    assert {"convert_labels", "selftrain_thresholds", "selftrain_spatial_prior", "selftrain_pseudo_labels",
            "summarize"} <= cpu_rules
    # Every shard of every round is a job of its own, so prediction spreads over the cluster's nodes.
    shard_jobs = len(config["methods"]) * config["rounds"] * config["shards"]
    assert sum(rule == "selftrain_predict" for rule, _ in jobs) == shard_jobs
    assert sum(rule == "selftrain_pseudo_labels" for rule, _ in jobs) == shard_jobs


def test_localhost_profile_turns_the_gpu_requests_off(workdir):
    jobs = dry_run_jobs(workdir, *PROFILES, *LOCALHOST)
    assert {resources.get("gpu", "0") for _, resources in jobs} == {"0"}
    assert {resources["mem_mb"] for _, resources in jobs} == {"1000"}


def test_config_key_sets_the_gpu_request_without_a_profile(workdir):
    config = tiny_config()
    config["compute"]["gpus_per_job"] = {"training": 4, "prediction": 1}
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    result = snakemake(workdir, "--cores", "1", "--dry-run", "--forceall", "results/source/miou.json", timeout=300)
    assert result.returncode == 0, result.stdout[-4000:]
    assert re.search(r"rule train_source:(?:\n\s+.*)*?\n\s+resources: .*gpu=4", result.stdout)
    assert re.search(r"rule evaluate:(?:\n\s+.*)*?\n\s+resources: .*gpu=1", result.stdout)
