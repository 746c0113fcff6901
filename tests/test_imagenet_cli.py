"""The udaflow CLI: `check-imagenet` loads a torchvision file as training does; `evaluate` names what it lacks."""

import subprocess
import sys

import pytest
from test_models import materialize, save, torchvision_resnet_shapes

from pipeline_lib.cli import main


def test_check_imagenet_reports_missing_and_unexpected_keys(tmp_path, capsys):
    state = materialize(torchvision_resnet_shapes(layers=(1, 1, 1, 1), width=16))
    main(["check-imagenet", str(save(state, tmp_path / "resnet.pth")), "--arch", "deeplabv2_resnet_tiny"])
    out = capsys.readouterr().out
    assert f"{len(state) - 2} tensors loaded" in out
    assert "8 missing (kept at their init) (layer5.* 8)" in out  # the 4 ASPP branches, weight + bias
    assert "2 unexpected (in the file, not used) (fc.* 2)" in out  # torchvision's ImageNet classifier

    main(["check-imagenet", str(save(state, tmp_path / "resnet.pth")), "--arch", "deeplabv2_resnet_tiny",
          "--multi-level"])
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
        [sys.executable, "-m", "pipeline_lib.cli", "check-imagenet", str(tmp_path / "absent.pth"), "--arch",
         "deeplabv2_resnet_tiny"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.strip().endswith(f"udaflow: ImageNet weights not found: {tmp_path / 'absent.pth'}")
    assert "Traceback" not in result.stderr
