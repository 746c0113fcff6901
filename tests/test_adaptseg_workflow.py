"""End to end: a single-level AdaptSegNet model from the demo data to its miou.json (issue 6)."""

import csv
import json

import pytest
from conftest import run_snakemake, tiny_config

pytestmark = pytest.mark.workflow


def test_adaptseg_single_end_to_end(workdir):
    config = tiny_config()
    config["adaptseg"].update(iterations=4, batch_size=2)
    result = run_snakemake(workdir, "results/adaptseg_single/miou.json", config=config)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "rule train_source:" not in result.stdout  # AdaptSegNet starts from the ImageNet init, not the source model
    scores = json.loads((workdir / "results/adaptseg_single/miou.json").read_text())
    assert scores["method"] == "adaptseg_single" and 0 <= scores["miou"] <= 100
    assert scores["provenance"]["model_spec"]["multi_level"] is False
    with (workdir / "results/adaptseg_single/train_log.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert rows[-1]["iteration"] == "4"
    assert {"lr_segmentation", "lr_discriminator2", "loss_seg", "loss_adv_out", "loss_d_out"} <= set(rows[-1])
    assert (workdir / "logs/train_adaptseg/single.log").read_text().count("[4/4]") == 1
    assert (workdir / "benchmarks/train_adaptseg/single.tsv").exists()
    assert not (workdir / "work/adaptseg_single/state/checkpoint.pt").exists()
