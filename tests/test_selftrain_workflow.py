"""End to end: CBST-SP round 1 on the tiny config (from the source model, or from a released ResNet-38),
then which jobs a change re-runs (dry runs)."""

import json
import re
from pathlib import Path

import pytest
from conftest import run_snakemake, tiny_config
from resnet38_fixture_arrays import fixture_arrays, write_ndarray_list

from pipeline_lib.models.serialization import load_model

pytestmark = pytest.mark.workflow

TARGET = "results/cbst_sp/round1/miou.json"
FIXTURES = Path(__file__).parent / "fixtures" / "resnet38"


def self_training_config() -> dict:
    config = tiny_config()
    section = config["self_training"]
    section.update(rounds=1, shards=2)
    section["prediction"]["histogram_bins"] = 1000
    section["training"].update(iterations=4, batch_size=2)
    return config


def planned_jobs(stdout: str) -> dict[str, int]:
    """The 'Job stats' table of a dry run as {rule: count}."""
    table = stdout.split("Job stats:", 1)[1].split("total", 1)[0]
    return {rule: int(count) for rule, count in re.findall(r"^(\w+)\s+(\d+)$", table, flags=re.MULTILINE)}


def test_cbst_sp_round1_end_to_end_and_rerun_scope(workdir):
    config = self_training_config()
    result = run_snakemake(workdir, TARGET, config=config)
    assert result.returncode == 0, result.stdout[-3000:]
    scores = json.loads((workdir / TARGET).read_text())
    assert scores["method"] == "cbst_sp/round1" and 0 <= scores["miou"] <= 100
    thresholds = json.loads((workdir / "work/cbst_sp/round1/thresholds.json").read_text())
    assert thresholds["policy"] == "cb" and thresholds["target_portion"] == 0.2
    assert (workdir / "work/spatial_prior/prior.npy").exists()
    for shard in (0, 1):
        assert (workdir / f"work/cbst_sp/round1/predictions/shard{shard}.h5").exists()
        assert len(list((workdir / f"work/cbst_sp/round1/pseudo_labels/shard{shard}").glob("*.png"))) == 2
    assert (workdir / "benchmarks/self_training/cbst_sp/round1/finetune.tsv").exists()

    # A threshold parameter re-runs the thresholds and what follows them, never the predictions.
    config["self_training"]["portions"]["target"]["initial"] = 0.3
    changed = run_snakemake(workdir, TARGET, "-n", config=config)
    assert changed.returncode == 0, changed.stdout[-3000:]
    assert planned_jobs(changed.stdout) == {
        "selftrain_thresholds": 1, "selftrain_pseudo_labels": 2, "selftrain_finetune": 1, "evaluate": 1,
    }

    # Deleting one pseudo-label shard re-runs that shard and its dependants only. Snakemake does not
    # rebuild a missing intermediate on its own, so the shard is named as a target too.
    config["self_training"]["portions"]["target"]["initial"] = 0.2
    shard = "work/cbst_sp/round1/pseudo_labels/shard1.csv"
    (workdir / shard).unlink()
    deleted = run_snakemake(workdir, shard, TARGET, "-n", config=config)
    assert deleted.returncode == 0, deleted.stdout[-3000:]
    assert planned_jobs(deleted.stdout) == {"selftrain_pseudo_labels": 1, "selftrain_finetune": 1, "evaluate": 1}
    assert "shard=1" in deleted.stdout and "shard=0" not in deleted.stdout


def test_cbst_sp_round1_from_a_released_mxnet_round0_model(workdir):
    """self_training.round0_model = an MXNet ResNet-38 .params: imported once, trained on, no source training;
    self_training.target_list = a reference .lst: only its frames, in its order, are pseudo-labelled."""
    meta = json.loads((FIXTURES / "fcrna_a1_cls19_narrow16.json").read_text())
    released = workdir / "released" / "gta_rna-a1_cls19_s8_ep-0000.params"
    released.parent.mkdir()
    write_ndarray_list(released, fixture_arrays(meta["keys"], meta["seed"]))
    config = self_training_config()
    config["self_training"]["round0_model"] = str(released)
    # CBST's own target list format: a .lst of Cityscapes paths, here three of the demo's train frames.
    listed = ["bremen_000000_000019", "aachen_000000_000019", "bochum_000000_000019"]
    reference_list = workdir / "released" / "train.lst"
    city = {name: name.split("_")[0] for name in listed}
    lines = [f"leftImg8bit/train/{city[n]}/{n}_leftImg8bit.png\tgtFine/train/{city[n]}/{n}_gtFine.png" for n in listed]
    reference_list.write_text("\n".join(lines) + "\n")
    config["self_training"]["target_list"] = str(reference_list)
    result = run_snakemake(workdir, TARGET, "results/released_source/miou.json", config=config)
    assert result.returncode == 0, result.stdout[-3000:]
    assert not re.search(r"^rule train_source:", result.stdout, flags=re.MULTILINE)
    assert not (workdir / "work/source/model.pt").exists()
    for model_file in ("work/released_source/model.pt", "work/cbst_sp/round1/model.pt"):
        _, spec = load_model(workdir / model_file)
        assert spec.arch == "resnet38_tiny", model_file
    assert [line.split(",")[0] for line in (workdir / "work/target_list.csv").read_text().splitlines()[1:]] == listed
    for target in (TARGET, "results/released_source/miou.json"):
        assert 0 <= json.loads((workdir / target).read_text())["miou"] <= 100

    config["self_training"]["round0_model"] = str(workdir / "released" / "missing.pth")
    refused = run_snakemake(workdir, TARGET, "-n", config=config)
    assert refused.returncode != 0
    assert "round0_model" in refused.stdout and "does not match" in refused.stdout
