"""End to end: the workflow on a tiny config, from demo generation to miou.json, then a no-op re-run."""

import json

import pytest
from conftest import run_snakemake, tiny_config

from pipeline_lib.data.labels import TRAIN_CLASSES

pytestmark = pytest.mark.workflow


def test_source_pipeline_end_to_end_and_rerun_is_noop(workdir):
    result = run_snakemake(workdir, "results/source/miou.json", config=tiny_config())
    assert result.returncode == 0, result.stdout[-3000:]
    scores = json.loads((workdir / "results/source/miou.json").read_text())
    assert 0 <= scores["miou"] <= 100
    assert list(scores["per_class"]) == list(TRAIN_CLASSES)
    assert scores["num_classes"] == 19 and scores["images"] == 3
    assert scores["provenance"]["config"]["source"] == "gta5"
    assert scores["provenance"]["versions"]["torch"]
    assert (workdir / "results/source/per_class.csv").exists()
    assert len(list((workdir / "results/source/visuals").glob("*.png"))) == 3
    assert (workdir / "logs/train_source.log").read_text().count("[10/10]") == 1
    assert (workdir / "benchmarks/evaluate/source.tsv").exists()
    assert "job done in" in (workdir / "logs/train_source.log").read_text()  # time and peak RSS, cached rule
    assert "partial download" not in (workdir / "logs/convert_labels/gta5_all.log").read_text()  # the demo is small

    again = run_snakemake(workdir, "results/source/miou.json")
    assert again.returncode == 0
    assert "Nothing to be done" in again.stdout

    # A setting the source result does not depend on re-runs nothing, not even its evaluation.
    config = tiny_config()
    config["dasac"]["sac"]["lr"] = 0.001
    unrelated = run_snakemake(workdir, "--dry-run", "results/source/miou.json", config=config)
    assert unrelated.returncode == 0
    assert "Nothing to be done" in unrelated.stdout, unrelated.stdout[-3000:]
    # An evaluation setting re-runs the evaluation, and the result records the config it ran under.
    config["evaluation"]["flip"] = True
    changed = run_snakemake(workdir, "results/source/miou.json", config=config)
    assert changed.returncode == 0 and "rule evaluate:" in changed.stdout and "rule train_source:" not in changed.stdout
    provenance = json.loads((workdir / "results/source/miou.json").read_text())["provenance"]["config"]
    assert provenance["dasac"]["sac"]["lr"] == 0.001 and provenance["evaluation"]["flip"] is True


def test_corrupt_label_fails_naming_the_file(workdir):
    config = tiny_config()
    generated = run_snakemake(workdir, "data/demo", config=config)
    assert generated.returncode == 0, generated.stdout[-3000:]
    broken = sorted((workdir / "data/demo/gta5/labels").glob("*.png"))[1]
    broken.write_bytes(b"\x89PNG\r\n\x1a\ntruncated")
    result = run_snakemake(workdir, "data/converted/gta5/all.csv")
    assert result.returncode != 0
    log = (workdir / "logs/convert_labels/gta5_all.log").read_text()
    assert f"{broken.name}: cannot read image" in log
    assert not (workdir / "data/converted/gta5/all.csv").exists()
