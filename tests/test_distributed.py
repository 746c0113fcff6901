"""Data-parallel training (pipeline_lib/engine/distributed.py): 2 gloo processes under torchrun take the
same steps as one process with the same global batch."""

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from pipeline_lib.data.datasets import SegmentationDataset, infinite_loader
from pipeline_lib.data.image_io import write_label, write_rgb
from pipeline_lib.data.transforms import AugmentationConfig, TrainAugmentation
from pipeline_lib.engine.lifetime import release_state_lock
from pipeline_lib.engine.trainer import Trainer, TrainerConfig
from pipeline_lib.jobs import train_source
from pipeline_lib.models.param_groups import build_param_groups
from pipeline_lib.models.serialization import load_model

FRAMES = 8
MODEL = {"arch": "deeplabv2_resnet_tiny", "num_classes": 19, "aspp_branches_used": 4, "imagenet_weights": None}


@pytest.fixture
def file_list(tmp_path):
    """Random frames whose every pixel has a class: each rank's loss then averages as many pixels."""
    rng = np.random.default_rng(0)
    rows = []
    for index in range(FRAMES):
        image, label = tmp_path / f"image{index}.png", tmp_path / f"label{index}.png"
        write_rgb(image, rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))
        write_label(label, rng.integers(0, 19, (48, 64), dtype=np.uint8))
        rows.append({"name": f"frame{index}", "image": str(image), "label": str(label)})
    path = tmp_path / "frames.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def training_config():
    return {
        "seed": 0,
        "checkpoint_every": 2,
        "log_every": 1,
        "source": {
            "iterations": 4,
            "batch_size": 4,
            "accumulation_steps": 1,
            "lr": 0.1,
            "momentum": 0.9,
            "weight_decay": 5.0e-4,
            "poly_power": 0.9,
            "bn_mode": "frozen",  # live BN would normalise each rank's half batch on its own
            # Flips only: no rescale or crop padding, so no pixel is ignored.
            "augmentation": {"resize": None, "scale": [1.0, 1.0], "crop": None, "hflip": 0.5, "color_jitter": 0.0,
                             "blur_prob": 0.0},
        },
    }


def plant_initial_state(state_dir, file_list):
    """A checkpoint at iteration 0, as the job would resume it: both runs start from these weights.

    (A fresh job draws its initial weights from its process's unseeded RNG, so two fresh runs differ.)
    """
    training = training_config()
    source = training["source"]
    torch.manual_seed(1)
    model = train_source.build_spec(MODEL).build()
    optimizer = torch.optim.SGD(
        build_param_groups(model, source["lr"], source["weight_decay"]), lr=source["lr"], momentum=source["momentum"]
    )
    Trainer(
        modules={"model": model},
        optimizers={"segmentation": optimizer},
        base_lrs={"segmentation": source["lr"]},
        config=TrainerConfig(iterations=source["iterations"]),
        state_dir=state_dir,
        device=torch.device("cpu"),
        fingerprint=train_source.settings_fingerprint(
            MODEL, training["seed"], source, Path(file_list).read_text()
        ),
    ).save(0)
    release_state_lock(state_dir)  # the job about to run trains into this folder: this process steps aside
    return model.state_dict()


def train(tmp_path, file_list, name, processes):
    out = tmp_path / name
    initial = plant_initial_state(out / "state", file_list)
    train_source.run(
        file_list, out / "model.pt", out / "train_log.csv", out / "state",
        model_config=MODEL,
        training=training_config(),
        compute={"device": "cpu", "amp": False, "num_workers": 0, "train_threads": 1, "channels_last": False,
                 "pin_memory": False, "deterministic": True, "compile": False},
        threads=processes,
        processes=processes,
    )
    model, _ = load_model(out / "model.pt")
    trained = model.state_dict()
    update = torch.cat([(trained[k] - initial[k]).flatten() for k in initial if initial[k].is_floating_point()])
    return update, pd.read_csv(out / "train_log.csv")


def test_two_gloo_processes_match_one_process_with_the_same_global_batch(tmp_path, file_list, one_thread, caplog):
    caplog.set_level(logging.INFO)
    single, single_log = train(tmp_path, file_list, "single", processes=1)
    parallel, parallel_log = train(tmp_path, file_list, "ddp", processes=2)
    assert "data-parallel: 2 gloo processes via torchrun" in caplog.text
    assert not (tmp_path / "ddp/state/checkpoint.pt").exists()  # rank 0 finished the job's outputs
    assert single.norm() > 0.05  # training did change the weights
    assert (parallel - single).norm() < 1e-4 * single.norm()  # and both runs changed them the same way
    assert parallel_log["iteration"].tolist() == single_log["iteration"].tolist() == [1, 2, 3, 4]
    np.testing.assert_allclose(parallel_log["loss"], single_log["loss"], rtol=1e-5)


def test_rank_slices_of_each_global_batch_together_are_the_single_process_batch(file_list):
    dataset = SegmentationDataset(file_list, TrainAugmentation(AugmentationConfig(hflip=0.5)), seed=3)
    single = infinite_loader(dataset, 4, seed=3, start_iteration=1)
    ranks = [infinite_loader(dataset, 4, seed=3, start_iteration=1, rank=r, world_size=2) for r in range(2)]
    for _ in range(3):  # crosses an epoch boundary (2 batches per epoch)
        whole = next(single)
        parts = [next(stream) for stream in ranks]
        assert torch.cat([p["index"] for p in parts]).tolist() == whole["index"].tolist()
        torch.testing.assert_close(torch.cat([p["image"] for p in parts]), whole["image"])


def test_global_batch_not_divisible_by_processes_is_an_error(file_list):
    dataset = SegmentationDataset(file_list, TrainAugmentation(AugmentationConfig()))
    with pytest.raises(ValueError, match="batch size 3 cannot be split evenly over 2 data-parallel processes"):
        next(infinite_loader(dataset, 3, seed=0, rank=0, world_size=2))
