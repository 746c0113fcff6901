"""``python -m bench.scale``: the README's real-scale numbers are measured rates times real counts."""

import json

import pytest

from bench import scale


def realsize_document(rows, disk, mode="full"):
    return {
        "mode": mode,
        "git": {"commit": "0123456789abcdef"},
        "machine": {"cpu": "AMD EPYC", "cpu_cores_usable": 2, "gpu": None},
        "chain": {"seconds": 600.0, "disk": disk, "returncode": 0},
        "results": rows,
    }


def job(name, seconds, rss_mb, rate=None, unit="", status="ok"):
    return {"job": name, "seconds": seconds, "peak_rss_mb": rss_mb, "rate": rate, "rate_unit": unit, "status": status}


@pytest.fixture
def results(tmp_path):
    rows = [
        job("train_source", 100.0, 8192, 0.5, "it/s"),
        job("self_training/cbst_sp/round1/predict_shard0", 60.0, 4096, 0.1, "img/s"),
        job("self_training/cbst_sp/round1/thresholds", 3.0, 300),
        job("self_training/cbst_sp/round1/pseudo_labels_shard0", 5.0, 500, 2.0, "img/s"),
        job("self_training/cbst_sp/round1/finetune", 90.0, 6144, 0.25, "it/s"),
        job("self_training/mlsl_sisc/round1/predict_shard0", 9.0, 4096, None, "", status="killed"),
    ]
    disk = {
        "CBST-SP prediction store (a round)": {"files": 1, "bytes": 2 * 2**20, "unit": "Cityscapes train frame",
                                               "bytes_per_unit": 2**20},
        "converted GTA5 labels": {"files": 16, "bytes": 16 * 2**19, "unit": "GTA5 frame", "bytes_per_unit": 2**19},
        "model.pt (a training job)": {"files": 6, "bytes": 6 * 2**29, "unit": "training job", "bytes_per_unit": 2**29},
    }
    (tmp_path / "realsize_self_training_cpu.json").write_text(json.dumps(realsize_document(rows, disk)))
    (tmp_path / "realsize_self_training_cpu_quick.json").write_text(json.dumps(realsize_document([], {}, "quick")))
    return tmp_path


def test_steps_scale_measured_rates_by_the_real_counts(results):
    config = scale.real_config()
    rows = {row["step"]: row for row in scale.scaled_rows(scale.load_runs(results), config)}
    source = rows["source-only training"]
    assert source["per_unit_s"] == 2.0 and source["units"] == config["training"]["source"]["iterations"]
    predict = rows["CBST-SP: predict the targets (every round)"]
    assert predict["units"] == 2975 * config["self_training"]["rounds"]
    assert predict["hours"] == pytest.approx(10.0 * predict["units"] / 3600)
    assert rows["CBST-SP: class thresholds (every round)"]["per_unit_s"] == 3.0  # the whole job, per round
    assert "MLSL SISC: predict with 25 windows (every round)" not in rows  # its job did not finish


def test_the_section_lists_chains_shares_disk_and_what_is_missing(results):
    text = scale.markdown(scale.load_runs(results), scale.real_config())
    assert "| self_training | 6 | 5 | 10 min | 8.0 GB | no GPU | AMD EPYC, 2 cores | 0123456789 |" in text
    assert "A full CBST-SP (6 rounds) run at these rates (AMD EPYC, 2 cores):" in text and "fine-tuning" in text
    assert "| CBST-SP prediction store (a round) | 1.00 MB per Cityscapes train frame | 2,975 | 2.91 GB |" in text
    assert "| converted GTA5 labels | 0.50 MB per GTA5 frame | 24,966 | 12.19 GB |" in text
    model = "| model.pt (a training job), self_training chain | 512.00 MB per training job | one per training job |"
    assert model in text
    assert "A CBST-SP round on Cityscapes train keeps 3.4 GB" in text  # 2.91 GB of store + 0.5 GB of model
    assert "All chains, one after another: 10 min on AMD EPYC, 2 cores." in text
    assert "Not measured yet:" in text and "DA-SAC ABN baseline" in text
    assert "A full DA-SAC (ABN baseline, weights, SAC) run: not all of its steps are measured yet." in text


def test_readme_section_is_what_the_committed_results_give():
    assert scale.main(["--check"]) == 0, "run python -m bench.scale --write"


def test_a_finished_gpu_run_is_preferred_and_a_failed_one_is_only_listed(results):
    gpu = realsize_document([job("train_source", 20.0, 2048, 2.0, "it/s")], {})
    gpu["machine"] = {"cpu": "Xeon", "cpu_cores_usable": 16, "gpu": {"name": "NVIDIA H200"}}
    gpu["chain"]["returncode"] = 0
    (results / "realsize_self_training_gpu.json").write_text(json.dumps(gpu))
    runs = scale.load_runs(results)
    assert set(runs) == {("self_training", "cpu"), ("self_training", "gpu")}
    rows = {row["step"]: row for row in scale.scaled_rows(runs, scale.real_config())}
    source = rows["source-only training"]
    assert source["per_unit_s"] == 0.5 and source["machine"] == "NVIDIA H200"
    gpu["chain"]["returncode"] = 1  # it stopped: the CPU run measures, the GPU run stays in the chain table
    (results / "realsize_self_training_gpu.json").write_text(json.dumps(gpu))
    runs = scale.load_runs(results)
    rows = {row["step"]: row for row in scale.scaled_rows(runs, scale.real_config())}
    assert rows["source-only training"]["per_unit_s"] == 2.0
    assert "| self_training | 1 | 1 | 10 min | 2.0 GB | no GPU | NVIDIA H200 | 0123456789 |" in scale.markdown(
        runs, scale.real_config())


def test_the_resnet38_chain_scales_only_its_own_steps(results):
    resnet38 = realsize_document([job("train_source", 600.0, 4800, 0.004, "it/s")], {})
    (results / "realsize_resnet38_cpu.json").write_text(json.dumps(resnet38))
    rows = {row["step"]: row for row in scale.scaled_rows(scale.load_runs(results), scale.real_config())}
    assert rows["source-only training"]["per_unit_s"] == 2.0  # the R101 chain's, not ResNet-38's
    cbst = rows["CBST ResNet-38: source training (batch 16)"]
    assert cbst["per_unit_s"] == 250.0 and cbst["units"] == scale.real_config("real_gta5_cbst.yaml")["training"][
        "source"]["iterations"]


def test_a_cpu_micro_batch_iteration_is_scaled_to_the_papers_step(tmp_path):
    rows = [{**job("train_dasac_baseline", 200.0, 12000, 0.02, "it/s"), "micro_batches_per_step": 4},
            {**job("dasac_importance_weights", 60.0, 1800, 0.05, "img/s"), "micro_batches_per_step": 1}]
    (tmp_path / "realsize_dasac_cpu.json").write_text(json.dumps(realsize_document(rows, {})))
    config = scale.real_config()
    scaled = {row["step"]: row for row in scale.scaled_rows(scale.load_runs(tmp_path), config)}
    baseline = scaled["DA-SAC ABN baseline"]
    assert baseline["per_unit_s"] == 200.0 and baseline["micro_batches"] == 4  # 4 x 50 s per paper step
    assert baseline["hours"] == pytest.approx(200.0 * config["dasac"]["baseline"]["iterations"] / 3600)
    assert scaled["DA-SAC importance weights"]["per_unit_s"] == 20.0
    text = scale.markdown(scale.load_runs(tmp_path), config)
    assert "one micro-batch per iteration" in text and "DA-SAC ABN baseline (4)" in text
