"""The real-data overlays (workflow/configs/real_*.yaml): each one, merged over config.yaml, plans every
default target on a real-dataset layout and gives the workflow the papers' values.

No training: a dry run on a fake GTA5 / SYNTHIA / Cityscapes tree of a few tiny files. The merged
config is rebuilt here the way Snakemake builds it (config.yaml, then each --configfile in order,
``snakemake.utils.update_config``), validated against the schema as the Snakefile does, and tied to
the run by the MD5 of the config that Snakemake prints in its header.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import REPO, run_snakemake
from PIL import Image
from snakemake.utils import update_config, validate

OVERLAYS = REPO / "workflow" / "configs"
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"

#: Values both overlays set (config key path -> value); each comment in the overlays gives its source.
COMMON = {
    "demo.generate": False,
    "model.arch": "deeplabv2_resnet101",
    "model.aspp_branches_used": 4,
    "compute.device": "auto",
    "compute.gpus_per_job": {"training": 1, "prediction": 1},
    "training.source.iterations": 150000,
    "training.source.batch_size": 1,
    "training.source.accumulation_steps": 1,
    "training.source.lr": 2.5e-4,
    "training.source.augmentation.scale": [1.0, 1.0],
    "training.source.augmentation.crop": None,
    "training.source.augmentation.hflip": 0.0,
    "self_training.rounds": 6,
    "self_training.prediction.scales": [1850 / 2048],
    "self_training.prediction.flip": True,
    "self_training.training.batch_size": 2,
    "self_training.training.lr": 1.0e-4,
    "self_training.training.lr_decay": 2**0.5,
    "self_training.training.bn_mode": "frozen",
    "self_training.training.loss_resolution": "stride8",
    "self_training.training.augmentation": {"scale": [0.7, 1.3], "crop": [504, 504], "hflip": 0.5},
    "self_training.mining": {"port": 0.8, "id_number": 3, "thresh": 0.001},
    "self_training.mlsl.sisc": {"patches": 25, "patch_size": [512, 512]},
    "adaptseg.iterations": 150000,
    "adaptseg.batch_size": 1,
    "adaptseg.accumulation_steps": 1,
    "adaptseg.lr": 2.5e-4,
    "adaptseg.lr_d": 1.0e-4,
    "adaptseg.discriminator_width": 64,
    "adaptseg.target_augmentation": {
        "resize": [1024, 512], "scale": [1.0, 1.0], "crop": None, "hflip": 0.0, "color_jitter": 0.0, "blur_prob": 0.0,
    },
    "adaptseg.variants.multi.lambda_adv_target1": 2.0e-4,
    "adaptseg.variants.lsgan.lambda_adv_target2": 0.01,
    "dasac.baseline.batch_size": 12,
    "dasac.baseline.target_batch_size": 8,
    "dasac.baseline.lr": 2.5e-4,
    "dasac.baseline.poly_power": 0.0,
    "dasac.baseline.source_augmentation.scale": [0.5, 2.0],
    "dasac.baseline.source_augmentation.crop": [640, 640],
    "dasac.baseline.source_augmentation.color_jitter": 0.5,
    "dasac.baseline.target_augmentation": {
        "resize": None, "scale": [0.5, 2.0], "crop": [640, 640], "hflip": 0.5, "color_jitter": 0.5, "blur_prob": 0.0,
    },
    "dasac.sac.batch_size": 8,
    "dasac.sac.target_groups": 2,
    "dasac.sac.lr": 2.5e-4,
    "dasac.sac.poly_power": 0.0,
    "dasac.sac.teacher_update_every": 100,
    "dasac.sac.source_augmentation.scale": [0.5, 1.0],
    "dasac.sac.source_augmentation.crop": [512, 1024],
    "dasac.sac.views.size": [512, 1024],
    "dasac.sac.views.group_size": 4,
    "cpsl.batch_size": 4,
    "cpsl.warmup_model": "cpsl_warmup",
    "cpsl.warmup": {
        "iterations": 90000, "lr": 1.0e-4, "lambda_adv": 0.01, "lr_d": 1.0e-4, "betas_d": [0.9, 0.99],
        "discriminator_width": 64,
    },
    "cpsl.accumulation_steps": 1,
    "cpsl.source_augmentation.crop": [512, 896],
    "cpsl.weak_augmentation": {"scale": [1100 / 2048, 3300 / 2048], "crop": [512, 896], "hflip": 0.5},
    "cpsl.prototypes.passes": 4,
    "cpsl.stage1.iterations": 90000,
    "cpsl.stage1.lr": 1.0e-4,
    "cpsl.stage1.feature_samples": 256,
    "cpsl.stage1.queue_length": 65536,
    "cpsl.stage1.ema_decay": 0.999,
    "cpsl.stage1.prototype_ema_decay": 0.999,
    "cpsl.distillation.iterations": 90000,
    "cpsl.distillation.lr": 6.0e-4,
    "evaluation.scales": [1.0],
}

#: Per source domain: the values where the references differ between GTA5 and SYNTHIA.
PER_SOURCE = {
    "gta5": {
        "source": "gta5",
        "training.source.augmentation.resize": [1280, 720],
        "self_training.portions.target": {"initial": 0.15, "step": 0.05, "max": 0.5},
        "self_training.portions.source": {"initial": 0.03, "step": 0.0025, "max": 0.06},
        "self_training.training.iterations": 3880,
        "adaptseg.source_augmentation.resize": [1280, 720],
        "dasac.baseline.iterations": 40 * 750,
        "dasac.baseline.source_augmentation.resize": [1914, 1052],
        "dasac.sac.iterations": (136 - 40) * 1125,
        "dasac.sac.source_augmentation.resize": [1914, 1052],
        "cpsl.source_augmentation.resize": [2048, 1024],
        "cpsl.source_augmentation.scale": [1100 / 2048, 3300 / 2048],
    },
    "synthia": {
        "source": "synthia",
        "training.source.augmentation.resize": None,
        "self_training.portions.target": {"initial": 0.2, "step": 0.05, "max": 0.5},
        "self_training.portions.source": {"initial": 0.02, "step": 0.0025, "max": 0.06},
        "self_training.training.iterations": 3221,
        "adaptseg.source_augmentation.resize": None,
        "dasac.baseline.iterations": 90 * 783,
        "dasac.baseline.source_augmentation.resize": None,
        "dasac.sac.iterations": (164 - 90) * 1175,
        "dasac.sac.source_augmentation.resize": None,
        "cpsl.source_augmentation.resize": None,
        "cpsl.source_augmentation.scale": [1100 / 1280, 3300 / 1280],
    },
}


def _png(path: Path, channels: int, dtype=np.uint8) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    shape = (8, 16, channels) if channels > 1 else (8, 16)
    Image.fromarray(np.zeros(shape, dtype)).save(path)


def fake_datasets(root: Path) -> dict:
    """A couple of tiny files in each dataset's real layout, and a dummy ImageNet file; the config keys naming them."""
    _png(root / "GTA5" / "images" / "00001.png", 3)
    _png(root / "GTA5" / "labels" / "00001.png", 1)
    _png(root / "RAND_CITYSCAPES" / "RGB" / "0000000.png", 3)
    _png(root / "RAND_CITYSCAPES" / "GT" / "LABELS" / "0000000.png", 3)
    cityscapes = root / "cityscapes"
    _png(cityscapes / "leftImg8bit" / "train" / "aachen" / "aachen_000000_000019_leftImg8bit.png", 3)
    _png(cityscapes / "leftImg8bit" / "val" / "frankfurt" / "frankfurt_000000_000294_leftImg8bit.png", 3)
    _png(cityscapes / "gtFine" / "val" / "frankfurt" / "frankfurt_000000_000294_gtFine_labelIds.png", 1)
    weights = root / "resnet101-5d3b4d8f.pth"
    weights.write_bytes(b"not loaded by a dry run")
    return {
        "datasets": {
            "gta5": {"root": str(root / "GTA5")},
            "synthia": {"root": str(root / "RAND_CITYSCAPES")},
            "cityscapes": {"root": str(cityscapes)},
        },
        "model": {"imagenet_weights": str(weights)},
    }


def merged_config(*overlays: Path) -> dict:
    """config.yaml with each file merged over it in order, as Snakemake does, then validated like the Snakefile."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    for overlay in overlays:
        update_config(config, yaml.safe_load(overlay.read_text()))
    validate(config, str(SCHEMA))
    return config


def lookup(config: dict, dotted: str):
    value = config
    for key in dotted.split("."):
        value = value[key]
    return value


def assert_close(actual, expected, key: str) -> None:
    if isinstance(expected, dict):
        assert isinstance(actual, dict) and set(actual) >= set(expected), f"{key}: {actual!r}"
        for name, value in expected.items():
            assert_close(actual[name], value, f"{key}.{name}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), f"{key}: {actual!r} != {expected!r}"
        for index, (got, want) in enumerate(zip(actual, expected, strict=True)):
            assert_close(got, want, f"{key}[{index}]")
    elif isinstance(expected, float):
        assert actual == pytest.approx(expected, rel=1e-3), f"{key}: {actual!r} != {expected!r}"
    else:
        assert actual == expected and type(actual) is type(expected), f"{key}: {actual!r} != {expected!r}"


def overridden_keys(overlay: dict, base: dict, prefix: str = "") -> list[str]:
    """Dotted keys of ``overlay`` that ``base`` (config.yaml) does not have: an overlay only overrides."""
    missing = []
    for key, value in overlay.items():
        path = f"{prefix}{key}"
        if key not in base:
            missing.append(path)
        elif isinstance(value, dict):
            missing += overridden_keys(value, base[key], f"{path}.")
    return missing


def overlay_run(tmp_path: Path, chain: list[Path], user: dict) -> tuple[Path, list[str], dict]:
    """A working directory with the shipped config.yaml, ``user``'s paths file after the ``chain`` of
    overlays (each overriding only keys config.yaml has); returns it, the --configfile list and the
    merged config."""
    workdir = tmp_path / "run"
    workdir.mkdir()
    (workdir / "config.yaml").write_text((REPO / "config.yaml").read_text())
    paths = tmp_path / "paths.yaml"
    paths.write_text(yaml.safe_dump(user))
    shipped = yaml.safe_load((REPO / "config.yaml").read_text())
    for overlay in chain:
        assert overridden_keys(yaml.safe_load(overlay.read_text()), shipped) == [], overlay.name
    return workdir, [*map(str, chain), str(paths)], merged_config(*chain, paths)


@pytest.mark.parametrize("source", ["gta5", "synthia"])
def test_overlay_plans_every_default_target_with_the_reference_values(tmp_path, source):
    workdir, files, config = overlay_run(tmp_path, [OVERLAYS / f"real_{source}.yaml"], fake_datasets(tmp_path / "data"))
    for key, expected in {**COMMON, **PER_SOURCE[source]}.items():
        assert_close(lookup(config, key), expected, key)

    # Default targets: no target named, so --configfile can take both files.
    result = run_snakemake(workdir, "-n", "--configfile", *files)
    assert result.returncode == 0, result.stdout
    out = result.stdout
    # The header's config hash is that of the merged, validated config above: the workflow sees exactly it.
    printed = re.search(r"Config MD5: ([0-9a-f]{32})", out)
    if printed:  # Snakemake 9 versions that print the run header
        assert printed.group(1) == hashlib.md5(json.dumps(config, sort_keys=True).encode()).hexdigest()
    # ...and the plan follows it: six rounds per self-training method, GPU jobs ask for one GPU.
    assert re.search(r"^selftrain_finetune\s+30$", out, re.M), out
    assert "results/cbst_sp/round6/miou.json" in out and "round7" not in out
    assert f"data/converted/{source}/all.csv" in out and "generate_demo" not in out
    for rule in ("train_source", "train_adaptseg", "train_dasac", "cpsl_stage1", "evaluate"):
        block = re.search(rf"^rule {rule}:\n(.*?)(?=^\S|\Z)", out, re.M | re.S)
        assert block and "gpu=1" in block.group(1), f"{rule}: {block and block.group(1)}"


@pytest.mark.parametrize("source", ["gta5", "synthia"])
def test_overlay_alone_stops_at_its_placeholders(tmp_path, source):
    """Without the user's roots the run stops at parse time naming the key, never falling back to demo data."""
    overlay = OVERLAYS / f"real_{source}.yaml"
    placeholder = lookup(yaml.safe_load(overlay.read_text()), f"datasets.{source}.root")
    if Path(placeholder).exists():
        pytest.skip(f"the placeholder {placeholder} exists on this machine")
    (tmp_path / "config.yaml").write_text((REPO / "config.yaml").read_text())
    result = run_snakemake(tmp_path, "-n", "--configfile", str(overlay))
    assert result.returncode != 0
    assert f"config key datasets.{source}.root: folder '{placeholder}' does not exist" in result.stdout


#: The CBST/MLSL overlays (merged after real_gta5.yaml): the README commands' values, and the method they run.
CBST_CHAINS = {
    "real_gta5_cbst.yaml": ("cbst_sp", {"self_training.prediction.scales": [1850 / 2048]}, 2),
    "real_gta5_mlsl_sisc.yaml": ("mlsl_sisc", {"self_training.prediction.scales": [1.0]}, 2),
    "real_gta5_mlsl_sisc_pwl.yaml": ("mlsl_sisc_pwl", {"self_training.prediction.scales": [1.0]}, 1),
}
CBST_COMMON = {
    "model.arch": "resnet38",
    "self_training.rounds": 6,
    "self_training.training.epochs": 2,
    "self_training.training.lr": 1.0e-4,
    "self_training.training.bn_mode": "frozen",
    "self_training.training.augmentation": {"scale": [0.7, 1.3], "crop": [504, 504], "hflip": 0.5},
    "self_training.portions.target": {"initial": 0.15, "step": 0.05, "max": 0.5},
    "self_training.portions.source": {"initial": 0.03, "step": 0.0025, "max": 0.06},
    "self_training.prediction.flip": True,
    "self_training.source_sample_policy": "cumulative",
    "self_training.mining": {"port": 0.8, "id_number": 3, "thresh": 0.001},
    "training.source.iterations": 46811,
    "training.source.batch_size": 16,
    "training.source.lr": 0.0016,
    "training.source.poly_power": 0.0,
    "evaluation.flip": True,
}


def cbst_files(root: Path) -> dict:
    """The released files the CBST overlays name, as dummies (a dry run reads none of them)."""
    root.mkdir(parents=True, exist_ok=True)
    files = {}
    for key, name in (
        ("round0_model", "gta_rna-a1_cls19_s8_ep-0000.params"),
        ("target_list", "train.lst"),
        ("imagenet", "ilsvrc-cls_rna-a1_cls1000_ep-0001.params"),
    ):
        (root / name).write_bytes(b"not read by a dry run")
        files[key] = str(root / name)
    return {
        "model": {"imagenet_weights": files["imagenet"]},
        "self_training": {"round0_model": files["round0_model"], "target_list": files["target_list"]},
    }


@pytest.mark.parametrize("overlay_name", sorted(CBST_CHAINS))
def test_cbst_mlsl_overlays_plan_the_readme_runs_from_the_released_model(tmp_path, overlay_name):
    method, values, batch = CBST_CHAINS[overlay_name]
    chain = [OVERLAYS / "real_gta5.yaml", OVERLAYS / "real_gta5_cbst.yaml"]
    if overlay_name != "real_gta5_cbst.yaml":
        chain.append(OVERLAYS / overlay_name)
    user = fake_datasets(tmp_path / "data")
    released = cbst_files(tmp_path / "released")
    user["model"] = released["model"]
    user["self_training"] = released["self_training"]
    workdir, files, config = overlay_run(tmp_path, chain, user)
    for key, expected in {**CBST_COMMON, **values, "self_training.training.batch_size": batch}.items():
        assert_close(lookup(config, key), expected, key)

    target = f"results/{method}/round6/miou.json"
    result = run_snakemake(workdir, "-n", target, "results/source/miou.json", "--configfile", *files)
    assert result.returncode == 0, result.stdout
    out = result.stdout
    assert re.search(r"^selftrain_round0\s+1$", out, re.M) and re.search(r"^selftrain_target_list\s+1$", out, re.M)
    assert re.search(r"^selftrain_finetune\s+6$", out, re.M), out
    # Round 1 starts from the imported released model; the source model is trained only for its own target.
    round1 = re.search(r"^rule selftrain_predict:\n(.*?)(?=^\S|\Z)", out, re.M | re.S).group(1)
    assert "work/released_source/model.pt" in out and "work/target_list.csv" in round1


def test_cbst_overlay_alone_stops_at_its_released_file_placeholders(tmp_path):
    (tmp_path / "config.yaml").write_text((REPO / "config.yaml").read_text())
    user = fake_datasets(tmp_path / "data")
    paths = tmp_path / "paths.yaml"
    paths.write_text(yaml.safe_dump(user))
    chain = [str(OVERLAYS / "real_gta5.yaml"), str(OVERLAYS / "real_gta5_cbst.yaml"), str(paths)]
    result = run_snakemake(tmp_path, "-n", "--configfile", *chain)
    assert result.returncode != 0
    overlay = yaml.safe_load((OVERLAYS / "real_gta5_cbst.yaml").read_text())
    for key in ("round0_model", "target_list"):
        placeholder = overlay["self_training"][key]
        assert f"config key self_training.{key}: file '{placeholder}' does not exist" in result.stdout


#: DA-SAC's VGG-16-BN overlays (merged after real_gta5.yaml): network and the configs/*.yaml values.
DASAC_VGG_CHAINS = {
    "real_gta5_dasac_vgg16_bn.yaml": (
        "deeplabv2_vgg16_bn",
        {"dasac.baseline.lr": 2.5e-4, "dasac.baseline.iterations": 64688, "dasac.sac.iterations": 77625},
    ),
    "real_gta5_dasac_fcn8s.yaml": (
        "fcn_vgg16_bn",
        {"dasac.baseline.lr": 5.0e-4, "dasac.baseline.iterations": 22500, "dasac.sac.iterations": 81000},
    ),
}


@pytest.mark.parametrize("overlay_name", sorted(DASAC_VGG_CHAINS))
def test_dasac_vgg16_bn_overlays_plan_baseline_and_sac_on_their_network(tmp_path, overlay_name):
    arch, values = DASAC_VGG_CHAINS[overlay_name]
    chain = [OVERLAYS / "real_gta5.yaml", OVERLAYS / overlay_name]
    user = fake_datasets(tmp_path / "data")
    weights = tmp_path / "vgg16_bn-6c64b313.pth"
    weights.write_bytes(b"not read by a dry run")
    user["model"] = {"imagenet_weights": str(weights)}
    workdir, files, config = overlay_run(tmp_path, chain, user)
    common = {"dasac.baseline.batch_size": 16, "dasac.baseline.target_batch_size": 2, "dasac.sac.target_groups": 2}
    for key, expected in {"model.arch": arch, **common, **values}.items():
        assert_close(lookup(config, key), expected, key)
    assert config["dasac"]["backbones"][arch] == {"lambda_target": 2.0, "threshold_low": 0.1}

    result = run_snakemake(workdir, "-n", "results/dasac/miou.json", "--configfile", *files)
    assert result.returncode == 0, result.stdout
    assert re.search(r"^train_dasac_baseline\s+1$", result.stdout, re.M) and "train_dasac" in result.stdout


def test_real_size_world_runs_a_real_overlay_on_generated_frames_at_real_resolution(tmp_path):
    """real_size_world.yaml after real_gta5.yaml (issue 19): the overlay's networks and crops, the demo
    generator at the datasets' sizes, no dataset root of the user's needed."""
    chain = [OVERLAYS / "real_gta5.yaml", OVERLAYS / "real_size_world.yaml"]
    weights = tmp_path / "resnet101-5d3b4d8f.pth"
    weights.write_bytes(b"not loaded by a dry run")
    workdir, files, config = overlay_run(tmp_path, chain, {"model": {"imagenet_weights": str(weights)}})
    assert config["demo"]["generate"] and config["demo"]["resolution"] == "real"
    assert config["model"]["arch"] == "deeplabv2_resnet101"
    result = run_snakemake(workdir, "-n", "results/source/miou.json", "--configfile", *files)
    assert result.returncode == 0, result.stdout
    assert re.search(r"^generate_demo\s+1$", result.stdout, re.M) and "output: data/real_size_world\n" in result.stdout


def test_synthia_cbst_overlay_plans_the_readme_run_with_16_outputs(tmp_path):
    """real_synthia_cbst.yaml (issue 15): CBST's ResNet-38 with 16 outputs from the released SYNTHIA model."""
    chain = [OVERLAYS / "real_synthia.yaml", OVERLAYS / "real_synthia_cbst.yaml"]
    user = fake_datasets(tmp_path / "data")
    released = tmp_path / "synthia_rna-a1_cls16_s8_ep-0000.params"
    imagenet = tmp_path / "ilsvrc-cls_rna-a1_cls1000_ep-0001.params"
    for path in (released, imagenet):
        path.write_bytes(b"not read by a dry run")
    user["model"] = {"imagenet_weights": str(imagenet)}
    user["self_training"] = {"round0_model": str(released)}
    workdir, files, config = overlay_run(tmp_path, chain, user)
    expected = {
        "source": "synthia", "model.arch": "resnet38", "model.num_classes": 16, "self_training.rounds": 6,
        "self_training.portions.source": {"initial": 0.02, "step": 0.0025, "max": 0.06},
        "self_training.training.epochs": 2, "self_training.training.batch_size": 2, "evaluation.flip": True,
        "training.source.iterations": 29375,
    }
    for key, value in expected.items():
        assert_close(lookup(config, key), value, key)
    result = run_snakemake(workdir, "-n", "results/cbst/round6/miou.json", "--configfile", *files)
    assert result.returncode == 0, result.stdout
    assert re.search(r"^selftrain_round0\s+1$", result.stdout, re.M)
    assert re.search(r"^selftrain_finetune\s+6$", result.stdout, re.M)
