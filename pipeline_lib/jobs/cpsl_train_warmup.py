"""Job: CPSL's own warm-up model (``cpsl.warmup_model: cpsl_warmup``; spec cpsl_proda.md §6.12).

The reference's ``--stage warm_up`` (``step_adv``) trains DeepLab-v2 with ProDA's head on source CE
plus ``--adv 0.01`` output-space LS-GAN through its own ``FCDiscriminator``. That is AdaptSegNet's
single-level loop with another discriminator, so this job maps the ``cpsl`` section onto an
AdaptSegNet variant and runs ``train_adaptseg``: SGD (head x10, weight decay on every parameter, BN
statistics and affine parameters trained as ``freeze_bn=False`` does), Adam for the discriminator,
its source and target terms summed. Prototypes, rectification and self-labelling of the later stages
then live on the head's ``feat``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline_lib.jobs import train_adaptseg

#: The warm-up's network head and discriminator, whatever ``model.head`` says for the other methods.
WARMUP_HEAD = "proda"


def warmup_settings(cpsl: dict[str, Any]) -> dict[str, Any]:
    """The ``cpsl`` section as the settings of an AdaptSegNet variant (``AdaptSegConfig`` keys).

    Targets get the weak view's rescale, crop and flip, the augmentation of the reference's target
    batches (``target_image``); sources get ``source_augmentation``.
    """
    warmup, weak = cpsl["warmup"], cpsl["weak_augmentation"]
    return {
        "iterations": warmup["iterations"],
        "batch_size": cpsl["batch_size"],
        "accumulation_steps": cpsl["accumulation_steps"],
        "lr": warmup["lr"],
        "momentum": cpsl["momentum"],
        "weight_decay": cpsl["weight_decay"],
        "poly_power": cpsl["poly_power"],
        "lr_d": warmup["lr_d"],
        "betas_d": warmup["betas_d"],
        "discriminator_width": warmup["discriminator_width"],
        "discriminator": "proda",
        "multi_level": False,
        "lambda_seg": 0.0,
        "lambda_adv_target1": 0.0,
        "lambda_adv_target2": warmup["lambda_adv"],
        "gan": "lsgan",
        "bn_mode": "train",
        "bn_affine_trainable": True,
        "source_augmentation": cpsl["source_augmentation"],
        "target_augmentation": {
            "resize": None,
            "scale": weak["scale"],
            "crop": weak["crop"],
            "hflip": weak["hflip"],
            "color_jitter": 0.0,
            "blur_prob": 0.0,
        },
    }


def run(
    source_list: str | Path,
    target_list: str | Path,
    model_out: str | Path,
    log_out: str | Path,
    state_dir: str | Path,
    *,
    model_config: dict[str, Any],
    cpsl: dict[str, Any],
    engine: dict[str, Any],
    compute: dict[str, Any],
    threads: int = 1,
    processes: int = 1,
) -> None:
    train_adaptseg.run(
        source_list,
        target_list,
        model_out,
        log_out,
        state_dir,
        model_config={**model_config, "head": WARMUP_HEAD},
        settings=warmup_settings(cpsl),
        engine=engine,
        compute=compute,
        threads=threads,
        processes=processes,
    )
