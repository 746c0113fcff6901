"""Importing released CPSL/ProDA ``.pkl`` checkpoints (spec cpsl_proda.md §8, §9) and the ``udaflow`` command.

The fake checkpoints are built from the key list the spec documents (§9): torchvision-named ResNet,
ProDA's ``Classifier_Module2`` under ``layer5``, ``bn_pretrain`` for stage-2/3 students, wrapped as
``{'ResNet101': {'model_state', 'prototypes_ema'}, 'iter', 'best_iou'}``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline_lib.cli import main
from pipeline_lib.data.image_io import write_label, write_rgb
from pipeline_lib.data.transforms import denormalize, mean_colour, normalize
from pipeline_lib.jobs import cpsl_warmup
from pipeline_lib.models import build_model
from pipeline_lib.models.proda_import import import_proda, load_proda_checkpoint
from pipeline_lib.models.serialization import ModelSpec, load_model, save_model

Shapes = dict[str, tuple[int, ...]]
REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.usefixtures("one_thread")


def documented_shapes(
    layers=(3, 4, 23, 3), width: int = 64, num_classes: int = 19, bn_pretrain: bool = False
) -> Shapes:
    """Spec §9: stem, layer1..4 (downsample on block 0), ProDA head, optional bn_pretrain; no counters."""

    def bn(prefix: str, channels: int) -> Shapes:
        return {f"{prefix}.{name}": (channels,) for name in ("weight", "bias", "running_mean", "running_var")}

    shapes: Shapes = {"conv1.weight": (width, 3, 7, 7), **bn("bn1", width)}
    inplanes = width
    for stage, blocks in enumerate(layers, start=1):
        planes = width * 2 ** (stage - 1)
        for block in range(blocks):
            p = f"layer{stage}.{block}"
            shapes[f"{p}.conv1.weight"] = (planes, inplanes, 1, 1)
            shapes[f"{p}.conv2.weight"] = (planes, planes, 3, 3)
            shapes[f"{p}.conv3.weight"] = (4 * planes, planes, 1, 1)
            for i, channels in ((1, planes), (2, planes), (3, 4 * planes)):
                shapes.update(bn(f"{p}.bn{i}", channels))
            if block == 0:
                shapes[f"{p}.downsample.0.weight"] = (4 * planes, inplanes, 1, 1)
                shapes.update(bn(f"{p}.downsample.1", 4 * planes))
            inplanes = 4 * planes
    head = 256 * width // 64  # the reference's 256-d feat; the tiny ResNet's head narrows with it
    for branch in range(5):
        kernel = 1 if branch == 0 else 3
        shapes[f"layer5.conv2d_list.{branch}.0.weight"] = (head, inplanes, kernel, kernel)
        shapes[f"layer5.conv2d_list.{branch}.0.bias"] = (head,)
        shapes[f"layer5.conv2d_list.{branch}.1.weight"] = (head,)
        shapes[f"layer5.conv2d_list.{branch}.1.bias"] = (head,)
    shapes.update(
        {
            "layer5.bottleneck.0.se.0.weight": (5 * head // 16, 5 * head),
            "layer5.bottleneck.0.se.0.bias": (5 * head // 16,),
            "layer5.bottleneck.0.se.2.weight": (5 * head, 5 * head // 16),
            "layer5.bottleneck.0.se.2.bias": (5 * head,),
            "layer5.bottleneck.1.weight": (head, 5 * head, 3, 3),
            "layer5.bottleneck.1.bias": (head,),
            "layer5.bottleneck.2.weight": (head,),
            "layer5.bottleneck.2.bias": (head,),
            "layer5.head.1.weight": (num_classes, head, 1, 1),
        }
    )
    if bn_pretrain:
        shapes.update(bn("bn_pretrain", inplanes))
    return shapes


def released_checkpoint(path, shapes: Shapes, prototypes: torch.Tensor | None = None, prefix: str = "") -> dict:
    gen = torch.Generator().manual_seed(0)
    state = {f"{prefix}{key}": torch.randn(shape, generator=gen) * 0.01 for key, shape in shapes.items()}
    for key in state:
        if key.endswith("running_var"):
            state[key] = state[key].abs() + 1.0
    network = {"model_state": state}
    if prototypes is not None:
        network["prototypes_ema"] = prototypes.requires_grad_(True)
    torch.save({"ResNet101": network, "iter": 70000, "best_iou": np.float64(0.5566)}, path)
    return state


def test_documented_resnet101_layout_is_our_model():
    """Every documented key exists in our R101 with the ProDA head and bn_pretrain, with the same shape:
    658 entries with the 105 BN counters (653 without bn_pretrain's 5)."""
    model = build_model("deeplabv2_resnet101", head="proda", bn_pretrain=True)
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    documented = documented_shapes(bn_pretrain=True)
    assert ours == documented
    assert len(model.state_dict()) == 658 and len(documented) == 658 - 105
    assert len([key for key in documented if not key.startswith("bn_pretrain.")]) + 104 == 653


def test_released_checkpoint_imports_and_predicts_like_the_weights(tmp_path):
    shapes = documented_shapes(layers=(1, 1, 1, 1), width=16, bn_pretrain=True)
    prototypes = torch.randn(19, 64)  # the tiny ResNet's ProDA feature is 64-d (ResNet-101's 256)
    state = released_checkpoint(tmp_path / "stage2_best_model.pkl", shapes, prototypes, prefix="module.")
    spec, report = import_proda(tmp_path / "stage2_best_model.pkl", tmp_path / "model.pt")
    assert (spec.arch, spec.head, spec.bn_pretrain, spec.num_classes) == ("deeplabv2_resnet_tiny", "proda", True, 19)
    assert len(report.loaded) == len(shapes) and report.ignored == []
    assert report.missing and all(key.endswith("num_batches_tracked") for key in report.missing)
    assert report.iteration == 70000 and report.best_iou == pytest.approx(0.5566)
    torch.testing.assert_close(report.prototypes, prototypes.detach())
    model, loaded_spec = load_model(tmp_path / "model.pt")
    assert loaded_spec == spec and model.input_convention == "rgb01"
    for key, value in state.items():
        assert torch.equal(model.state_dict()[key.removeprefix("module.")], value)
    model.eval()
    out = model(torch.rand(1, 3, 64, 96))
    assert set(out) == {"out", "features", "feat"} and out["feat"].shape[1] == 64 and out["out"].shape[1] == 19


def test_import_reports_unexpected_missing_and_mis_shaped_keys(tmp_path):
    shapes = documented_shapes(layers=(1, 1, 1, 1), width=16)
    shapes["layer5.extra.weight"] = (3,)
    del shapes["layer5.bottleneck.1.bias"]
    shapes["layer5.bottleneck.2.weight"] = (128,)
    released_checkpoint(tmp_path / "bad.pkl", shapes)
    with pytest.raises(ValueError) as error:
        load_proda_checkpoint(tmp_path / "bad.pkl")
    message = str(error.value)
    assert "bad.pkl" in message
    assert "1 missing: layer5.bottleneck.1.bias" in message
    assert "1 unexpected: layer5.extra.weight" in message
    assert "layer5.bottleneck.2.weight (128,) vs (64,)" in message


def test_extra_counters_are_ignored_and_stage2_placeholder_prototypes_dropped(tmp_path):
    shapes = documented_shapes(layers=(1, 1, 1, 1), width=16)
    state = released_checkpoint(tmp_path / "x.pkl", shapes, torch.zeros(19, 64))
    torch.save(
        {
            "ResNet101": {
                "model_state": {**state, "layer9.num_batches_tracked": torch.tensor(3)},
                "prototypes_ema": torch.zeros(19, 64),
            }
        },
        tmp_path / "x.pkl",
    )
    _, _, report = load_proda_checkpoint(tmp_path / "x.pkl")
    assert report.ignored == ["layer9.num_batches_tracked"] and report.prototypes is None and report.iteration is None


def test_cli_import_cpsl_writes_the_model_and_prototypes(tmp_path, capsys):
    released_checkpoint(tmp_path / "stage1.pkl", documented_shapes(layers=(1, 1, 1, 1), width=16), torch.ones(19, 64))
    main(
        [
            "import-cpsl",
            str(tmp_path / "stage1.pkl"),
            str(tmp_path / "model.pt"),
            "--prototypes-out",
            str(tmp_path / "prototypes.pt"),
        ]
    )
    printed = capsys.readouterr().out
    assert "ProDA head, rgb01 inputs" in printed and "0 unexpected" in printed and "iteration 70000" in printed
    assert load_model(tmp_path / "model.pt")[1].head == "proda"
    assert torch.equal(torch.load(tmp_path / "prototypes.pt")["prototypes"], torch.ones(19, 64))


def test_prototypes_of_another_width_than_the_head_feature_are_an_error(tmp_path):
    released_checkpoint(tmp_path / "stage1.pkl", documented_shapes(layers=(1, 1, 1, 1), width=16), torch.ones(19, 256))
    with pytest.raises(ValueError, match=r"stage1.pkl: prototypes_ema has shape \(19, 256\).*\(19, 64\)"):
        load_proda_checkpoint(tmp_path / "stage1.pkl")


def test_proda_input_convention_is_rgb_over_255():
    """Spec §2.1: ProDA/CPSL subtract an all-zero mean and divide by 255, with no std."""
    image = torch.rand(3, 4, 5) * 255
    torch.testing.assert_close(normalize(image, "rgb01"), image / 255)
    torch.testing.assert_close(denormalize(normalize(image, "rgb01"), "rgb01"), image)
    assert mean_colour("rgb01").abs().sum() == 0


def test_warmup_job_imports_a_released_checkpoint_or_keeps_the_source_model(tmp_path):
    """``cpsl.warmup_checkpoint`` goes through the same import; without it the source model is re-saved."""
    released_checkpoint(tmp_path / "warmup.pkl", documented_shapes(layers=(1, 1, 1, 1), width=16))
    cpsl_warmup.run(tmp_path / "warmup.pkl", tmp_path / "imported.pt", released=True)
    model, spec = load_model(tmp_path / "imported.pt")
    assert spec.head == "proda" and model.input_convention == "rgb01" and model.prototype_feature == "feat"
    source = build_model("deeplabv2_resnet_tiny")
    save_model(tmp_path / "source.pt", source, ModelSpec("deeplabv2_resnet_tiny"))
    cpsl_warmup.run(tmp_path / "source.pt", tmp_path / "warmup.pt", released=False)
    model, spec = load_model(tmp_path / "warmup.pt")
    assert spec.head == "aspp" and model.prototype_feature == "features"
    assert all(torch.equal(v, source.state_dict()[k]) for k, v in model.state_dict().items())


def test_a_16_class_synthia_checkpoint_imports_and_is_scored_under_compact16(tmp_path, capsys):
    """ProDA/CPSL's SYNTHIA models have 16 outputs (issue 17): the import keeps them, and
    ``udaflow evaluate`` maps the argmax to the 16 classes' train IDs and ignores terrain/truck/train."""
    released_checkpoint(tmp_path / "syn.pkl", documented_shapes(layers=(1, 1, 1, 1), width=16, num_classes=16))
    main(["import-cpsl", str(tmp_path / "syn.pkl"), str(tmp_path / "model.pt")])
    assert load_model(tmp_path / "model.pt")[1].num_classes == 16
    rng = np.random.default_rng(0)
    label = rng.integers(0, 19, (48, 96), dtype=np.uint8)
    write_rgb(tmp_path / "img.png", rng.integers(0, 255, (48, 96, 3), dtype=np.uint8))
    write_label(tmp_path / "lbl.png", label)
    (tmp_path / "val.csv").write_text(f"name,image,label\nframe,{tmp_path / 'img.png'},{tmp_path / 'lbl.png'}\n")
    main(["evaluate", str(tmp_path / "model.pt"), "--config", str(REPO / "config.yaml"),
          "--file-list", str(tmp_path / "val.csv"), "--out-dir", str(tmp_path / "results")])
    scores = json.loads((tmp_path / "results/miou.json").read_text())
    assert scores["class_protocol"] == "compact16" and scores["miou16_variant"] == "compact16"
    assert all(scores["per_class"][name] is None for name in ("terrain", "truck", "train"))
    assert scores["miou"] == scores["miou16"]
    matrix = np.asarray(scores["confusion_matrix"])
    assert matrix[[9, 14, 16]].sum() == 0 and matrix[:, [9, 14, 16]].sum() == 0
    assert matrix.sum() == np.isin(label, [c for c in range(19) if c not in (9, 14, 16)]).sum()
