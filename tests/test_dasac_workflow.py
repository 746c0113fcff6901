"""End to end: the DA-SAC chain (ABN baseline -> importance weights -> SAC) from the demo data to both miou.json."""

import csv
import json

import pandas as pd
import pytest
from conftest import run_snakemake, tiny_config

pytestmark = pytest.mark.workflow


@pytest.mark.parametrize("accumulation", [1, 2])
def test_dasac_chain_end_to_end(workdir, accumulation):
    """With accumulation the same 2 source images per step arrive as 2 micro-batches of 1."""
    config = tiny_config()
    dasac = config["dasac"]
    dasac["baseline"].update(
        iterations=4, batch_size=2 // accumulation, target_batch_size=2 // accumulation, accumulation_steps=accumulation
    )
    dasac["sac"].update(
        iterations=4, batch_size=2 // accumulation, target_groups=1, accumulation_steps=accumulation,
        teacher_update_every=2,
    )
    dasac["sac"]["views"].update(size=[32, 64], group_size=2)
    result = run_snakemake(workdir, "results/dasac/miou.json", "results/dasac_baseline/miou.json", config=config)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "rule train_source:" not in result.stdout  # both stages start from the ImageNet init / the ABN model

    for run in ("dasac_baseline", "dasac"):
        scores = json.loads((workdir / f"results/{run}/miou.json").read_text())
        assert scores["method"] == run and 0 <= scores["miou"] <= 100
        assert not (workdir / f"work/{run}/state/checkpoint.pt").exists()

    weights = pd.read_csv(workdir / "work/dasac_baseline/importance_weights.csv")
    target_names = pd.read_csv(workdir / "data/converted/cityscapes/train.csv")["name"]
    assert set(weights["name"]) == set(target_names)  # every target image, as the reference asserts
    assert weights.groupby("class_id")["weight"].sum().round(6).eq(1.0).all()

    with (workdir / "results/dasac/train_log.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert rows[-1]["iteration"] == "4"
    assert {"lr_segmentation", "loss_source", "loss_target", "pseudo_labelled", "teacher_updated"} <= set(rows[-1])
    # Two source images per step over 6 frames: 3-step epochs, so steps 0, 1, 2, 3 are within-epoch steps
    # 0, 1, 2, 0 and the teacher updates once at 3 of the 4 (the first update initialises it); with
    # accumulation, only at a step's first micro-batch (twice would log 1.5).
    assert float(rows[-1]["teacher_updated"]) == pytest.approx(0.75)
    assert (workdir / "logs/train_dasac.log").read_text().count("[4/4]") == 1


@pytest.mark.parametrize("arch", ["deeplabv2_vgg16_bn", "fcn_vgg16_bn"])
def test_dasac_trains_and_scores_its_vgg16_bn_networks(workdir, arch):
    """Issue 17: the ABN baseline and SAC run on DA-SAC's VGG-16-BN networks with their own
    dasac.backbones values (FCN-8s needs inputs divisible by 32: the demo's crops, views and frames are)."""
    config = tiny_config()
    config["model"]["arch"] = arch
    dasac = config["dasac"]
    dasac["baseline"].update(iterations=2, batch_size=2, target_batch_size=2)
    dasac["sac"].update(iterations=2, batch_size=2, target_groups=1, teacher_update_every=1)
    dasac["sac"]["views"].update(size=[64, 128], group_size=2)
    result = run_snakemake(workdir, "results/dasac/miou.json", config=config)
    assert result.returncode == 0, result.stdout[-3000:]
    scores = json.loads((workdir / "results/dasac/miou.json").read_text())
    assert scores["provenance"]["model_spec"]["arch"] == arch and 0 <= scores["miou"] <= 100
    # the network's own dasac.backbones entry (LR_TARGET 2, RUN_CONF_LOWER 0.1), not ResNet-101's 5 / 0.2
    assert "target-loss weight 2, threshold floor 0.1" in (workdir / "logs/train_dasac.log").read_text()
