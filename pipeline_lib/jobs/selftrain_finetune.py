"""Job: fine-tune the previous round's model on target pseudo-labels plus the round's source subset."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from pipeline_lib.atomic import atomic_path
from pipeline_lib.data.datasets import SegmentationDataset, read_file_list
from pipeline_lib.data.labels import train_id_to_output_lut
from pipeline_lib.engine import distributed
from pipeline_lib.engine.checkpoint import load_checkpoint, save_checkpoint
from pipeline_lib.engine.device import select_device, set_cpu_threads
from pipeline_lib.engine.trainer import CHECKPOINT_NAME, LOG_NAME, EngineSettings
from pipeline_lib.jobs.train_source import settings_fingerprint
from pipeline_lib.methods.self_training import FineTuneConfig, fine_tune, round_iterations
from pipeline_lib.models.serialization import load_model, save_model
from pipeline_lib.selftrain.mining import MiningAugmentation, mining_classes
from pipeline_lib.selftrain.mlsl import PresenceHead
from pipeline_lib.selftrain.portions import PortionSchedule, round_learning_rate, source_subset

log = logging.getLogger(__name__)


def training_list(source_list: str | Path, target_lists: list[str | Path], indices, out: Path) -> Path:
    """The union of the source subset and every pseudo-labelled target, as one file list (§2.4)."""
    source = read_file_list(source_list).iloc[indices]
    targets = [read_file_list(path) for path in target_lists]
    with atomic_path(out) as tmp:
        pd.concat([source, *targets], ignore_index=True).to_csv(tmp, index=False)
    return out


def load_presence_head(path: str | Path | None, in_channels: int, num_classes: int) -> PresenceHead:
    """The previous round's presence branch, or a freshly initialised one (round 1, §9.1)."""
    head = PresenceHead(in_channels, num_classes)
    if path is not None:
        state = load_checkpoint(path)
        if "presence_head" not in state:
            raise ValueError(f"{path}: no 'presence_head' entry (was the previous round trained with PWL?)")
        head.load_state_dict(state["presence_head"])
    return head


def feature_channels(model: torch.nn.Module, size_hw: tuple[int, int] = (64, 64)) -> int:
    with torch.no_grad():
        return int(model.eval()(torch.zeros(1, 3, *size_hw))["features"].shape[1])


@distributed.data_parallel
def run(
    model_path: str | Path,
    heads_path: str | Path | None,
    source_list: str | Path,
    target_lists: list[str | Path],
    thresholds_path: str | Path,
    model_out: str | Path,
    heads_out: str | Path,
    log_out: str | Path,
    state_dir: str | Path,
    *,
    round_index: int,
    method: dict[str, Any],
    settings: dict[str, Any],
    mining: dict[str, Any],
    mlsl: dict[str, Any],
    source_portions: dict[str, float],
    source_sample_policy: str,
    seed: int,
    training_common: dict[str, Any],
    compute: dict[str, Any],
    threads: int = 1,
) -> None:
    set_cpu_threads(threads)
    device = select_device(compute["device"])
    state_dir = Path(state_dir)
    model, spec = load_model(model_path)
    presence_head = None
    torch.manual_seed(seed + round_index)  # a fresh presence head's initialisation (round 1) is reproducible
    if method["pwl"]:
        presence_head = load_presence_head(heads_path, feature_channels(model), spec.num_classes)

    schedule = PortionSchedule.from_config(source_portions)
    source_portion = schedule.at_round(round_index)
    num_source = len(read_file_list(source_list))
    indices = source_subset(num_source, source_portion, seed, round_index, source_sample_policy)
    union = training_list(source_list, target_lists, indices, state_dir / "training_list.csv")
    class_pixels = json.loads(Path(thresholds_path).read_text())["class_pixels"]
    classes = mining_classes(np.asarray(list(class_pixels.values())), mining["thresh"], mining["id_number"])
    augmentation = settings["augmentation"]
    transform = MiningAugmentation(
        augmentation["scale"], augmentation["crop"], augmentation["hflip"], classes, mining["port"],
        model.input_convention,
    )
    # Source labels and pseudo-labels are both train IDs on disk; a compact16 network learns its outputs.
    dataset = SegmentationDataset(
        union, transform, model.input_convention, seed=seed + round_index,
        label_map=train_id_to_output_lut(spec.num_classes),
    )
    config = FineTuneConfig(
        iterations=round_iterations(settings["iterations"], settings["epochs"], len(dataset), settings["batch_size"]),
        batch_size=settings["batch_size"],
        lr=round_learning_rate(settings["lr"], round_index, settings["lr_decay"]),
        momentum=settings["momentum"],
        weight_decay=settings["weight_decay"],
        bn_mode=settings["bn_mode"],
        loss_resolution=settings["loss_resolution"],
        ohem=(mlsl["ohem_thresh"], mlsl["ohem_min_kept"]) if method["ohem"] else None,
        pwl_weight=mlsl["pwl_weight"] if method["pwl"] else 0.0,
        pwl_presence_factor=mlsl["pwl_presence_factor"],
    )
    log.info(
        "round %d: %d source frames (portion %.4f) + %d targets, lr %.3g, mining priority %s rare %s",
        round_index, len(indices), source_portion, len(dataset) - len(indices), config.lr, classes.priority,
        classes.rare,
    )
    fine_tune(
        model, presence_head, dataset, config,
        state_dir=state_dir,
        device=device,
        fingerprint=settings_fingerprint(
            # A checkpoint left by an interrupted run is resumed only for the same inputs and settings.
            spec.__dict__, seed, round_index, method, settings, mining, mlsl, union.read_text(),
            Path(thresholds_path).read_text(), Path(model_path).stat().st_mtime_ns,
        ),
        engine=EngineSettings.from_config({**training_common, "seed": seed + round_index}, compute),
    )
    if not distributed.world().is_main:
        return  # rank 0 of a data-parallel run writes the outputs
    save_model(model_out, model.cpu(), spec)
    heads = {} if presence_head is None else {"presence_head": presence_head.cpu().state_dict()}
    save_checkpoint(heads_out, heads)
    with atomic_path(log_out) as tmp:
        shutil.copyfile(state_dir / LOG_NAME, tmp)
    (state_dir / CHECKPOINT_NAME).unlink(missing_ok=True)
