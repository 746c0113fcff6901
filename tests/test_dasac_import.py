"""Importing DA-SAC's released snapshots (spec A.8): key layout, report, and the ``udaflow`` command.

The fake snapshots follow the layout the spec documents: ``{"model", "opt", "score", "epoch"}`` with
``module.backbone.model.*`` (student), and in final snapshots ``module.slow_net.model.*`` (teacher),
``module.running_conf`` and ``module.slow_init``. Released files carry ``num_batches_tracked``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_adaptseg_import import deeplab_multi_shapes

from pipeline_lib.cli import main
from pipeline_lib.models.dasac_import import import_dasac, load_dasac_snapshot, map_dasac_keys
from pipeline_lib.models.serialization import load_model

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = {"layers": (1, 1, 1, 1), "width": 16}


def network_state(seed: int, **shapes_kwargs) -> dict[str, torch.Tensor]:
    """DeepLab-v2 single-level keys (``layer5`` on layer4, four branches) with BN counters, random values."""
    gen = torch.Generator().manual_seed(seed)
    shapes = deeplab_multi_shapes(multi=False, **shapes_kwargs)
    state = {key: torch.randn(shape, generator=gen) * 0.01 for key, shape in shapes.items()}
    for key in [k for k in state if k.endswith("running_var")]:
        state[key] = state[key].abs() + 1.0
        state[key.replace("running_var", "num_batches_tracked")] = torch.tensor(1000)
    return state


def snapshot(student: dict, teacher: dict | None = None) -> dict:
    model = {f"module.backbone.model.{k}": v for k, v in student.items()}
    if teacher is not None:
        model |= {f"module.slow_net.model.{k}": v for k, v in teacher.items()}
        model |= {"module.running_conf": torch.rand(19), "module.slow_init": torch.tensor([1.0])}
    opt = {"state": {0: {"momentum_buffer": torch.zeros(3)}}, "param_groups": [{"lr": 2.5e-4, "params": [0]}]}
    return {"model": model, "opt": opt, "score": np.float64(53.8), "epoch": 136}


def test_documented_resnet101_layout_maps_one_to_one():
    """Full-size key names and shapes (meta tensors): every student key maps onto our ResNet-101."""
    shapes = deeplab_multi_shapes(multi=False)
    student = {k: torch.empty(v, device="meta") for k, v in shapes.items()}
    mapped, ignored = map_dasac_keys(snapshot(student, teacher=student)["model"], "student")
    assert set(mapped) == set(shapes) and len(ignored) == len(shapes) + 2
    assert mapped["layer5.conv2d_list.3.weight"].shape == (19, 2048, 3, 3)
    assert "module.running_conf" in ignored and "module.slow_net.model.conv1.weight" in ignored


def test_final_snapshot_imports_student_or_teacher_with_a_report(tmp_path):
    student, teacher = network_state(0, **TINY), network_state(1, **TINY)
    torch.save(snapshot(student, teacher), tmp_path / "final_e136.pth")

    report = import_dasac(tmp_path / "final_e136.pth", tmp_path / "student.pt")
    assert (report.spec.arch, report.spec.multi_level, report.spec.aspp_branches_used) == (
        "deeplabv2_resnet_tiny", False, 4)
    assert report.missing == [] and sorted(report.loaded) == sorted(student)
    assert len(report.ignored) == len(teacher) + 2
    model, spec = load_model(tmp_path / "student.pt")
    assert spec == report.spec and model.input_convention == "imagenet"
    for key, tensor in student.items():
        assert torch.equal(model.state_dict()[key], tensor), key

    import_dasac(tmp_path / "final_e136.pth", tmp_path / "teacher.pt", network="teacher")
    teacher_model, _ = load_model(tmp_path / "teacher.pt")
    head = "layer5.conv2d_list.0.weight"
    assert torch.equal(teacher_model.state_dict()[head], teacher[head])


def test_abn_snapshot_has_no_teacher_and_old_counters_may_be_absent(tmp_path):
    student = {k: v for k, v in network_state(0, **TINY).items() if not k.endswith("num_batches_tracked")}
    torch.save(snapshot(student), tmp_path / "baseline_abn_e040.pth")
    _, report = load_dasac_snapshot(tmp_path / "baseline_abn_e040.pth")
    assert report.missing and all(key.endswith(".num_batches_tracked") for key in report.missing)
    with pytest.raises(ValueError, match="baseline_abn_e040.pth: no module.slow_net.. keys.*ABN baseline"):
        load_dasac_snapshot(tmp_path / "baseline_abn_e040.pth", network="teacher")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda s: s.pop("module.backbone.model.layer5.conv2d_list.3.bias"), "1 missing: layer5.conv2d_list.3.bias"),
        (lambda s: s.update({"module.backbone.model.layer6.weight": torch.zeros(1)}), "1 unexpected: layer6.weight"),
        (lambda s: s.update({"module.backbone.features.0.weight": torch.zeros(1)}), "1 unexpected: features.0.weight"),
        (lambda s: s.pop("module.backbone.model.conv1.weight"), "not a DA-SAC network"),
    ],
)
def test_foreign_snapshots_fail_naming_file_and_keys(tmp_path, edit, message):
    data = snapshot(network_state(0, **TINY))
    edit(data["model"])
    torch.save(data, tmp_path / "x.pth")
    with pytest.raises(ValueError, match=message) as err:
        load_dasac_snapshot(tmp_path / "x.pth")
    assert "x.pth" in str(err.value)


def test_cli_import_prints_the_report(tmp_path, capsys):
    torch.save(snapshot(network_state(0, **TINY), network_state(1, **TINY)), tmp_path / "final.pth")
    main(["import-dasac", str(tmp_path / "final.pth"), str(tmp_path / "model.pt"), "--teacher"])
    out = capsys.readouterr().out
    assert "the teacher of" in out and "deeplabv2_resnet_tiny" in out and "0 unexpected" in out
    assert f"{len(network_state(0, **TINY)) + 2} snapshot keys outside the teacher ignored" in out
    assert load_model(tmp_path / "model.pt")[1].arch == "deeplabv2_resnet_tiny"
