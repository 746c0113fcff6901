"""Snakemake's between-workflow cache (`--cache`): a run with another config reuses the converted labels
and the source model that an earlier run stored, instead of computing them again."""

import os

import pytest
from conftest import run_snakemake, tiny_config

pytestmark = pytest.mark.workflow

TARGET = "work/source/model.pt"


def test_run_with_another_config_takes_labels_and_source_model_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SNAKEMAKE_OUTPUT_CACHE", str(tmp_path / "cache"))
    (tmp_path / "cache").mkdir()
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    config = tiny_config()
    stored = run_snakemake(first, TARGET, "--cache", config=config)
    assert stored.returncode == 0, stored.stdout[-3000:]
    assert "Moving output file work/source/model.pt to cache" in stored.stdout

    config["evaluation"]["flip"] = True  # another experiment sharing the source model
    config["self_training"]["rounds"] = 1
    reused = run_snakemake(second, TARGET, "--cache", config=config)
    assert reused.returncode == 0, reused.stdout[-3000:]
    assert "Symlinking output file work/source/model.pt from cache" in reused.stdout
    assert "Symlinking output file data/converted/gta5/all.csv from cache" in reused.stdout
    assert "source training" not in (second / "logs/train_source.log").read_text()  # the job never ran here
    assert (second / TARGET).read_bytes() == (first / TARGET).read_bytes()
    assert os.path.realpath(second / TARGET) == os.path.realpath(first / TARGET)

    config["training"]["source"]["iterations"] = 12  # a setting of the model itself: a new entry
    cached = (first / TARGET).read_bytes()
    retrained = run_snakemake(second, TARGET, "--cache", config=config)
    assert retrained.returncode == 0, retrained.stdout[-3000:]
    assert "Moving output file work/source/model.pt to cache" in retrained.stdout  # trained, then stored
    assert (second / "logs/train_source.log").read_text().count("[12/12]") == 1
    assert (first / TARGET).read_bytes() == cached  # the new model went beside the old entry, not over it
