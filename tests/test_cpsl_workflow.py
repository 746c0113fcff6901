"""End to end: the CPSL chain from the demo data to results/cpsl/stage3/miou.json (issue 7)."""

import csv
import json
import re

import h5py
import numpy as np
import pytest
from conftest import run_snakemake, tiny_config

from pipeline_lib.cpsl.prototypes import load_prototypes

pytestmark = pytest.mark.workflow


def test_cpsl_chain_to_stage3(workdir):
    config = tiny_config()
    config["cpsl"].update(batch_size=2)  # the default chain: CPSL's own warm-up on ProDA's head
    config["cpsl"]["warmup"].update(iterations=3)
    config["cpsl"]["stage1"].update(iterations=3, feature_samples=16, queue_length=32)
    config["cpsl"]["distillation"].update(iterations=3)
    result = run_snakemake(
        workdir, "results/cpsl/stage3/miou.json", "results/cpsl_warmup/miou.json", config=config
    )
    assert result.returncode == 0, result.stdout[-3000:]
    for rule in (
        "cpsl_train_warmup",
        "cpsl_warmup",
        "cpsl_soft_labels",
        "cpsl_prototypes",
        "cpsl_class_distribution",
        "cpsl_stage1",
        "cpsl_hard_labels",
        "cpsl_distill",
    ):
        assert f"rule {rule}:" in result.stdout or f"Rule: {rule}" in result.stdout, rule

    warmup_scores = json.loads((workdir / "results/cpsl_warmup/miou.json").read_text())
    assert warmup_scores["provenance"]["model_spec"]["head"] == "proda"
    with (workdir / "results/cpsl_warmup/train_log.csv").open() as handle:
        warmup_log = list(csv.DictReader(handle))
    assert {"loss_seg", "loss_adv_out", "loss_d_out"} <= set(warmup_log[-1])

    warmup = workdir / "work/cpsl/warmup"
    # The prototypes live on the ProDA head's feature (64-d on the tiny ResNet, 256-d on ResNet-101).
    assert tuple(load_prototypes(warmup / "prototypes.pt").shape) == (19, 64)
    with h5py.File(warmup / "soft_labels.h5") as store:
        names = sorted(store["soft_labels"])
        probabilities = store["soft_labels"][names[0]][()]
    assert len(names) == 4 and probabilities.dtype == np.float16 and probabilities.shape[0] == 19
    np.testing.assert_allclose(probabilities.astype(np.float32).sum(axis=0), 1.0, atol=5e-3)
    distribution = np.load(warmup / "class_distribution.npy")
    assert distribution.dtype == np.float64 and distribution.shape == (19,) and distribution.sum() == pytest.approx(1.0)

    with (workdir / "results/cpsl/stage1/train_log.csv").open() as handle:
        stage1 = list(csv.DictReader(handle))
    assert stage1[-1]["iteration"] == "3"
    assert {"loss_source", "loss_target", "loss_sl", "loss_consistency"} <= set(stage1[-1])
    with (workdir / "results/cpsl/stage3/train_log.csv").open() as handle:
        stage3 = list(csv.DictReader(handle))
    assert {"loss_pseudo", "loss_kd"} <= set(stage3[-1])

    scores = json.loads((workdir / "results/cpsl/stage3/miou.json").read_text())
    assert scores["method"] == "cpsl/stage3" and 0 <= scores["miou"] <= 100
    assert scores["provenance"]["model_spec"]["bn_pretrain"] is True
    assert scores["provenance"]["model_spec"]["head"] == "proda"  # the students keep the warm-up's head
    assert "random weights" in (workdir / "logs/cpsl/stage2.log").read_text()
    assert not (workdir / "work/cpsl/stage2/state/checkpoint.pt").exists()


def planned_jobs(workdir, config):
    result = run_snakemake(workdir, "--dry-run", "results/cpsl/stage1/miou.json", config=config)
    return result, re.findall(r"^(?:local)?rule (\w+):\n(?:\s+.*\n)*?\s+input: (.*)$", result.stdout, re.MULTILINE)


def test_default_warmup_is_cpsls_own_and_the_adaptsegnet_one_stays_available(workdir):
    result, jobs = planned_jobs(workdir, tiny_config())
    assert result.returncode == 0, result.stdout[-3000:]
    inputs = dict(jobs)
    assert "work/cpsl_warmup/model.pt" in inputs["cpsl_warmup"]
    assert "cpsl_train_warmup" in inputs and "train_adaptseg" not in inputs

    config = tiny_config()
    config["cpsl"]["warmup_model"] = "adaptseg_lsgan"
    result, jobs = planned_jobs(workdir, config)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "work/adaptseg_lsgan/model.pt" in dict(jobs)["cpsl_warmup"]


@pytest.mark.parametrize(
    ("warmup_model", "message"),
    [
        ("adaptseg_nonesuch", "'adaptseg_nonesuch' names no adaptseg.variants entry"),
        ("adaptseg_multi", "'adaptseg_multi' is multi-level"),
    ],
)
def test_warmup_model_that_cannot_serve_is_a_parse_time_error_naming_the_key(workdir, warmup_model, message):
    config = tiny_config()
    config["cpsl"]["warmup_model"] = warmup_model
    result, _ = planned_jobs(workdir, config)
    assert result.returncode != 0
    assert "config key cpsl.warmup_model" in result.stdout and message in result.stdout
