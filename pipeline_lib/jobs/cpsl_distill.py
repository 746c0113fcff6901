"""Job: CPSL stage 2 or 3, distillation of a teacher into a student (spec §7).

Stage 2: the teacher is the stage-1 model; the student is a fresh network of the same architecture
with CPSL's ``bn_pretrain`` BatchNorm (``--bn_clr``), its backbone from the SimCLR weights in
``cpsl.distillation.student_init`` (the reference's ``r101_1x_sk0.pth``), else from
``model.imagenet_weights``, else random (with a warning). Stage 3: teacher and student both start
from the stage-2 model (the reference omits ``--no_resume``, so the stage-2 weights overwrite the
SimCLR init, §7.1).
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from pipeline_lib.atomic import atomic_path
from pipeline_lib.cpsl.hard_label_store import HardLabelStore
from pipeline_lib.engine.device import select_device, set_cpu_threads
from pipeline_lib.engine.trainer import CHECKPOINT_NAME, LOG_NAME, EngineSettings
from pipeline_lib.jobs.cpsl_stage1 import datasets, file_digest
from pipeline_lib.jobs.train_source import settings_fingerprint
from pipeline_lib.methods.cpsl import distillation_config, train_distillation
from pipeline_lib.models.imagenet import load_imagenet_weights
from pipeline_lib.models.serialization import load_model, save_model

log = logging.getLogger(__name__)


def initial_student(
    teacher_spec, convention: str, settings: dict[str, Any], imagenet_weights: str | None, seed: int
):
    """A new student for stage 2: the teacher's architecture plus ``bn_pretrain`` as configured, its random
    initialisation drawn from ``seed`` (as ``train_source.initial_model``: the trainer seeds the global RNG
    only later, so without this every run started from other weights and ended at another mIoU)."""
    spec = replace(teacher_spec, bn_pretrain=settings["bn_pretrain"])
    torch.manual_seed(seed)
    student = spec.build()
    weights, origin = settings["student_init"], "SimCLR"
    if not weights and imagenet_weights:
        weights, origin = imagenet_weights, "ImageNet"
    if weights:
        report = load_imagenet_weights(student, weights)
        log.info("student backbone from %s weights %s: %d tensors loaded", origin, weights, len(report.loaded))
    else:
        log.warning(
            "cpsl.distillation.student_init and model.imagenet_weights are null: the stage-2 student starts from "
            "random weights (the reference uses SimCLRv2 r101_1x_sk0.pth)"
        )
    student.input_convention = convention  # teacher and student see the same normalised strong view
    return student, spec


def run(
    teacher_model: str | Path,
    hard_labels: str | Path,
    source_list: str | Path,
    target_list: str | Path,
    model_out: str | Path,
    log_out: str | Path,
    state_dir: str | Path,
    *,
    stage: int,
    settings: dict[str, Any],
    imagenet_weights: str | None,
    engine: dict[str, Any],
    compute: dict[str, Any],
    threads: int = 1,
) -> None:
    set_cpu_threads(threads)
    device = select_device(compute["device"])
    config = distillation_config(settings)
    teacher, teacher_spec = load_model(teacher_model)
    seed = engine["seed"]
    if stage == 2:
        student, spec = initial_student(
            teacher_spec, teacher.input_convention, settings["distillation"], imagenet_weights, seed
        )
    elif stage == 3:
        student, spec = load_model(teacher_model)
    else:
        raise ValueError(f"CPSL distillation runs as stage 2 or 3, not {stage}")
    source, target = datasets(
        source_list, target_list, settings, teacher.input_convention, seed, num_classes=spec.num_classes,
        hard_labels=HardLabelStore(hard_labels),
    )
    log.info(
        "CPSL stage %d: distilling %s into a %s student on %d source and %d target frames, %d iterations%s",
        stage,
        teacher_model,
        spec.arch,
        len(source),
        len(target),
        config.optimizer.iterations,
        " (reference KL quirk)" if config.reference_kl_quirk else "",
    )
    train_distillation(
        student,
        teacher,
        source,
        target,
        config,
        state_dir=Path(state_dir),
        device=device,
        fingerprint=settings_fingerprint(
            stage,
            spec.__dict__,
            seed,
            settings,
            imagenet_weights,
            file_digest(teacher_model),
            file_digest(hard_labels),
            Path(source_list).read_text(),
            Path(target_list).read_text(),
        ),
        engine=EngineSettings.from_config(engine, compute),
    )
    save_model(model_out, student.cpu(), spec)
    with atomic_path(log_out) as tmp:
        shutil.copyfile(Path(state_dir) / LOG_NAME, tmp)
    (Path(state_dir) / CHECKPOINT_NAME).unlink(missing_ok=True)
