"""The udaflow CLI: `check-imagenet` loads a torchvision file as training does; `evaluate` names what it lacks."""

import subprocess
import sys

import pytest
import torch
from conftest import REPO
from test_models import materialize, save, torchvision_resnet_shapes

from pipeline_lib.cli import console, main
from pipeline_lib.models.serialization import ModelSpec, save_model


def test_check_imagenet_reports_missing_and_unexpected_keys(tmp_path, capsys):
    state = materialize(torchvision_resnet_shapes(layers=(1, 1, 1, 1), width=16))
    main(["check-imagenet", str(save(state, tmp_path / "resnet.pth")), "--arch", "deeplabv2_resnet_tiny"])
    out = capsys.readouterr().out
    assert f"{len(state) - 2} tensors loaded" in out
    assert "8 missing (kept at their init) (layer5.* 8)" in out  # the 4 ASPP branches, weight + bias
    assert "2 unexpected (in the file, not used) (fc.* 2)" in out  # torchvision's ImageNet classifier

    main(
        [
            "check-imagenet",
            str(save(state, tmp_path / "resnet.pth")),
            "--arch",
            "deeplabv2_resnet_tiny",
            "--multi-level",
        ]
    )
    assert "16 missing (kept at their init) (layer5.* 8, layer6.* 8)" in capsys.readouterr().out


def test_check_imagenet_fails_naming_the_missing_key(tmp_path):
    state = materialize(torchvision_resnet_shapes(layers=(1, 1, 1, 1), width=16))
    del state["layer2.0.conv1.weight"]
    with pytest.raises(ValueError, match=r"1 missing: layer2\.0\.conv1\.weight"):
        main(["check-imagenet", str(save(state, tmp_path / "partial.pth")), "--arch", "deeplabv2_resnet_tiny"])


def test_evaluate_without_the_val_list_says_how_to_make_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit, match=r"snakemake --cores 4 data/converted/cityscapes/val\.csv"):
        main(["evaluate", str(tmp_path / "model.pt"), "--config", str(tmp_path / "config.yaml")])


def test_command_reports_a_bad_file_in_one_line(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline_lib.cli",
            "check-imagenet",
            str(tmp_path / "absent.pth"),
            "--arch",
            "deeplabv2_resnet_tiny",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.strip().endswith(f"udaflow: ImageNet weights not found: {tmp_path / 'absent.pth'}")
    assert "Traceback" not in result.stderr


def _console(monkeypatch, *argv: str) -> str:
    """Run the ``udaflow`` command; the message it exits with (one line, no traceback)."""
    monkeypatch.setattr("sys.argv", ["udaflow", *argv])
    with pytest.raises(SystemExit) as exited:
        console()
    message = str(exited.value.code)
    assert "\n" not in message and "Traceback" not in message
    return message


def test_a_bad_model_file_is_one_line_naming_it(tmp_path, monkeypatch):
    spec = ModelSpec("deeplabv2_resnet_tiny")
    model = spec.build()
    model.input_convention = "imagenet"
    good = tmp_path / "good.pt"
    save_model(good, model, spec)
    payload = torch.load(good, weights_only=True)
    cases = {
        "bare.pt": torch.zeros(3),
        "renamed.pt": {
            **payload,
            "state_dict": {k.replace("layer5", "head"): v for k, v in payload["state_dict"].items()},
        },
        "reshaped.pt": {**payload, "state_dict": {**payload["state_dict"], "conv1.weight": torch.zeros(1)}},
        "future.pt": {**payload, "spec": {**payload["spec"], "decoder": "fpn"}},
    }
    expected = {
        "bare.pt": "not a udaflow model file (format 'Tensor'",
        "renamed.pt": "does not fit deeplabv2_resnet_tiny: 8 missing: layer5.conv2d_list.0.weight",
        "reshaped.pt": "1 shape-mismatched: conv1.weight (1,) vs (16, 3, 7, 7)",
        "future.pt": "does not build with this udaflow",
    }
    for name, content in cases.items():
        torch.save(content, tmp_path / name)
        config = str(REPO / "config.yaml")
        message = _console(monkeypatch, "evaluate", str(tmp_path / name), "--file-list", str(good), "--config", config)
        assert message.startswith(f"udaflow: {tmp_path / name}: ") and expected[name] in message, message


def test_an_import_refuses_an_already_imported_model_file(tmp_path, monkeypatch):
    spec = ModelSpec("deeplabv2_resnet_tiny")
    model = spec.build()
    model.input_convention = "imagenet"
    save_model(tmp_path / "model.pt", model, spec)
    for command, family in (
        ("import-adaptsegnet", "a released checkpoint"),
        ("import-cpsl", "a CPSL/ProDA checkpoint"),
        ("import-dasac", "a DA-SAC snapshot"),
    ):
        message = _console(monkeypatch, command, str(tmp_path / "model.pt"), str(tmp_path / "out.pt"))
        assert f"a udaflow model file (deeplabv2_resnet_tiny), not {family}" in message, message
        assert not (tmp_path / "out.pt").exists()


def test_a_system_error_is_one_line_naming_the_path(monkeypatch):
    def denied(argv=None):
        raise PermissionError(13, "Permission denied", "results/source/miou.json")

    monkeypatch.setattr("pipeline_lib.cli.main", denied)
    assert _console(monkeypatch, "evaluate", "m.pt") == "udaflow: results/source/miou.json: Permission denied"
