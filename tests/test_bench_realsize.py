"""``python -m bench realsize``: each chain's overlays plus the bench's overrides form a valid plan."""

import json

import pytest
import yaml
from conftest import run_snakemake

from bench import realsize
from bench.common import REPO


@pytest.mark.workflow
@pytest.mark.parametrize("chain", list(realsize.CHAINS))
def test_every_chain_plans_with_the_cpu_micro_batches(workdir, chain):
    overlays, targets = realsize.CHAINS[chain]
    (workdir / "bench.yaml").write_text(yaml.safe_dump(realsize.chain_overrides(chain, quick=False, on_cpu=True)))
    configs = [str(realsize.CONFIGS / overlay) for overlay in overlays] + [str(workdir / "bench.yaml")]
    (workdir / "config.yaml").write_text((REPO / "config.yaml").read_text())
    result = run_snakemake(workdir, "-n", *targets, "--configfile", *configs)
    assert result.returncode == 0, result.stdout[-3000:]
    for target in targets:
        assert target in result.stdout, target  # each result is planned


def _planned_config(chain: str, on_cpu: bool) -> dict:
    """The config a chain's jobs see: config.yaml, the chain's overlays, the bench's overrides."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    for overlay in realsize.CHAINS[chain][0]:
        config = realsize.merge_config(config, yaml.safe_load((realsize.CONFIGS / overlay).read_text()))
    return realsize.merge_config(config, realsize.chain_overrides(chain, quick=False, on_cpu=on_cpu))


def _batches(chain: str, on_cpu: bool) -> dict[str, int]:
    """Each trained stage's images per iteration of a chain (source crops, and DA-SAC ABN's target crops)."""
    config = _planned_config(chain, on_cpu)
    dasac, cpsl, source = config["dasac"], config["cpsl"], config["training"]["source"]
    return {
        "dasac": {"train_dasac_baseline": dasac["baseline"]["batch_size"] * dasac["baseline"]["accumulation_steps"],
                  "train_dasac_baseline target": dasac["baseline"]["target_batch_size"]
                  * dasac["baseline"]["accumulation_steps"],
                  "train_dasac": dasac["sac"]["batch_size"] * dasac["sac"]["accumulation_steps"]},
        "cpsl": {job: cpsl["batch_size"] * cpsl["accumulation_steps"]
                 for job in ("cpsl/train_warmup", "cpsl/stage1", "cpsl/stage2", "cpsl/stage3")},
        "resnet38": {"train_source": source["batch_size"] * source["accumulation_steps"]},
    }[chain]


@pytest.mark.parametrize("chain", list(realsize.CPU_MICRO_BATCHES))
def test_cpu_micro_batches_times_their_count_per_step_are_the_papers_batch(chain):
    paper, micro = _batches(chain, on_cpu=False), _batches(chain, on_cpu=True)
    for job, images in micro.items():
        log_name = job.removesuffix(" target")
        assert realsize.micro_batches_per_step(chain, log_name, on_cpu=False) == 1
        count = realsize.micro_batches_per_step(chain, log_name, on_cpu=True)
        assert 1 < count and images * count == paper[job], (job, images, count, paper[job])
    # Prediction jobs of the same chain are not scaled (their unit is an image).
    assert realsize.micro_batches_per_step(chain, "cpsl/stage2_pseudo_labels", on_cpu=True) == 1


def test_resnet38_source_training_has_the_papers_batch_of_16_and_other_chains_are_untouched():
    assert _batches("resnet38", on_cpu=False)["train_source"] == 16
    r101 = _planned_config("self_training", on_cpu=True)["training"]["source"]
    assert r101["batch_size"] == 1 and r101.get("accumulation_steps", 1) == 1


def test_disk_usage_is_per_frame_of_its_dataset_or_per_job(tmp_path):
    def write(relative, size):
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * size)

    (tmp_path / "data/converted/cityscapes").mkdir(parents=True)
    (tmp_path / "data/converted/cityscapes/train.csv").write_text("name,image,label\na,a.png,a.png\nb,b.png,b.png\n")
    for index in range(4):
        write(f"data/converted/gta5/all_labels/{index}.png", 100)
    write("work/cbst_sp/round1/predictions/shard0.h5", 1000)  # one store holds both target frames
    write("work/st/round1/predictions/shard0.h5", 1000)  # another method's round: not added to CBST-SP's
    write("work/source/model.pt", 300)
    write("work/cbst_sp/round1/model.pt", 500)
    usage = realsize.disk_usage(tmp_path)
    assert usage["converted GTA5 labels"]["bytes_per_unit"] == 100
    assert usage["CBST-SP prediction store (a round)"] == {
        "files": 1, "bytes": 1000, "unit": "Cityscapes train frame", "bytes_per_unit": 500}
    assert usage["model.pt (a training job)"]["bytes_per_unit"] == 400
    assert "CPSL soft labels of the warm-up" not in usage  # nothing of that kind was written


def test_job_rows_read_time_memory_gpu_and_rate_from_the_logs(tmp_path):
    logs = tmp_path / "logs"
    (logs / "evaluate").mkdir(parents=True)
    (logs / "train_source.log").write_text(
        "[1/2]  50.0% | loss 3.1 | lr 2.50e-04 | 0.0883 it/s | eta 0:00:11\n"  # 11.3 s: start-up and iteration 1
        "[2/2] 100.0% | loss 2.9 | lr 2.50e-04 | 0.169 it/s | eta 0:00:00\n"  # 11.8 s: iteration 2 took 0.51 s
        "INFO udaflow: job done in 95.2 s, peak RSS 8123 MB, peak GPU memory 20480 MB\n"
    )
    (logs / "evaluate/source.log").write_text(
        "INFO pipeline_lib.progress: evaluated [1/1] 100.0% | 0.0331 img/s | eta 0:00:00\n"
        "INFO udaflow: job done in 31.0 s, peak RSS 1534 MB\n"
    )
    (logs / "train_dasac.log").write_text("RuntimeError: DefaultCPUAllocator: not enough memory\n")
    rows = {row["job"]: row for row in realsize.job_rows(tmp_path)}
    assert rows["train_source"] == {"job": "train_source", "seconds": 95.2, "peak_rss_mb": 8123, "peak_gpu_mb": 20480,
                                    "rate_unit": "it/s", "rate": 0.169, "steady_rate": 1.96, "status": "ok"}
    assert rows["evaluate/source"]["peak_gpu_mb"] is None and rows["evaluate/source"]["rate"] == 0.0331
    assert rows["evaluate/source"]["steady_rate"] is None  # one progress line: only the average
    assert rows["train_dasac"]["status"] == "RuntimeError: DefaultCPUAllocator: not enough memory"


@pytest.mark.parametrize("on_cpu", [True, False])
@pytest.mark.parametrize("chain", list(realsize.CHAINS))
def test_the_world_holds_one_batch_of_every_job(chain, on_cpu):
    """The H200 run of DA-SAC and CPSL stopped at 'fewer than one batch of 8 / 4' with 2 target frames;
    self-training's batch of 2 is drawn from the round's source frames and the pseudo-labelled targets."""
    config = _planned_config(chain, on_cpu)
    world = config["demo"]
    frames = world["cityscapes_train_count"]
    source_frames = int(world["gta5_count"] * config["self_training"]["portions"]["source"]["initial"])
    needs = {
        "self_training": [(frames + source_frames, config["self_training"]["training"]["batch_size"])],
        "resnet38": [(frames + source_frames, config["self_training"]["training"]["batch_size"]),
                     (world["gta5_count"], config["training"]["source"]["batch_size"])],
        "adaptseg": [(frames, config["adaptseg"]["batch_size"])],
        "dasac": [(frames, config["dasac"]["baseline"]["target_batch_size"]),
                  (frames, config["dasac"]["sac"]["target_groups"]),
                  (world["gta5_count"], config["dasac"]["baseline"]["batch_size"])],
        "cpsl": [(frames, config["cpsl"]["batch_size"])],
    }[chain]
    for available, batch in needs:
        assert available >= batch, (chain, available, batch)
    if on_cpu and chain != "dasac":
        assert frames == 1  # a CPU predicts as few frames as the chain allows


@pytest.mark.parametrize("gpu", [None, {"name": "NVIDIA H200"}])
def test_reread_keeps_the_micro_batches_of_a_cpu_run(tmp_path, gpu):
    chain_dir = tmp_path / "cpsl"
    (chain_dir / "logs/cpsl").mkdir(parents=True)
    (chain_dir / "logs/cpsl/stage1.log").write_text(
        "[1/2]  50.0% | loss 3.1 | lr 1.00e-04 | 0.01 it/s | eta 0:01:40\n"
        "[2/2] 100.0% | loss 2.9 | lr 1.00e-04 | 0.0133 it/s | eta 0:00:00\n"
        "INFO udaflow: job done in 160.0 s, peak RSS 10000 MB\n"
    )
    (chain_dir / "logs/cpsl/soft_labels.log").write_text(
        "INFO pipeline_lib.progress: predicted target images [1/1] 100.0% | 0.0353 img/s | eta 0:00:00\n"
        "INFO udaflow: job done in 29.1 s, peak RSS 1611 MB\n"
    )
    result = tmp_path / "realsize_cpsl_cpu.json"
    result.write_text(json.dumps({"machine": {"gpu": gpu}, "results": []}))
    realsize.reread(chain_dir, result)
    rows = {row["job"]: row for row in json.loads(result.read_text())["results"]}
    assert rows["cpsl/stage1"]["micro_batches_per_step"] == (4 if gpu is None else 1)
    assert rows["cpsl/soft_labels"]["micro_batches_per_step"] == 1
    assert rows["cpsl/stage1"]["chain"] == "cpsl"
