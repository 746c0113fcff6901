"""``udaflow import-cbst`` against MXNet's own forward pass of the reference ResNet-38.

tests/fixtures/resnet38/make_fixtures.py built ``fcrna_model_a1`` from yzou2/CBST's symbol code in
MXNet 1.9.1, filled it with ``resnet38_fixture_arrays.fixture_arrays`` (seeded), saved it with
``mx.nd.save`` and recorded the file's sha256 and MXNet's class scores on a seeded input. Here the
same arrays are written again (the sha256 proves the file is byte for byte what MXNet saved, so the
~500 MB full-size files need not be committed), imported, and run through our port.
"""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from resnet38_fixture_arrays import fixture_arrays, fixture_input, write_ndarray_list

from pipeline_lib.cli import main
from pipeline_lib.models.cbst_import import load_cbst_params, torch_key
from pipeline_lib.models.imagenet import load_imagenet_weights
from pipeline_lib.models.resnet38 import ResNet38
from pipeline_lib.models.serialization import load_model

FIXTURES = Path(__file__).parent / "fixtures" / "resnet38"
NARROW = "fcrna_a1_cls19_narrow16"
TOLERANCE = 1e-4  # max |ours - MXNet| relative to max |MXNet|


def _meta(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def _write(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    write_ndarray_list(path, arrays)
    return path


def _mxnet_file(tmp_path: Path, name: str) -> Path:
    meta = _meta(name)
    path = _write(tmp_path / f"{name}.params", fixture_arrays(meta["keys"], meta["seed"]))
    assert hashlib.sha256(path.read_bytes()).hexdigest() == meta["params_sha256"], "not the file MXNet saved"
    return path


def _assert_close_to_mxnet(ours: torch.Tensor, name: str, output_file: str) -> None:
    expected = np.load(FIXTURES / output_file)
    assert ours.shape == expected.shape, output_file
    error = np.abs(ours.numpy() - expected).max() / np.abs(expected).max()
    assert error <= TOLERANCE, f"{name} {output_file}: max relative difference {error:.2e}"


@pytest.mark.parametrize(
    ("name", "arch", "classes"),
    [(NARROW, "resnet38_tiny", 19), ("fcrna_a1_cls19", "resnet38", 19), ("fcrna_a1_cls16", "resnet38", 16)],
)
def test_import_cbst_computes_what_mxnet_computed(tmp_path, capsys, name, arch, classes):
    meta = _meta(name)
    model_file = tmp_path / "model.pt"
    main(["import-cbst", str(_mxnet_file(tmp_path, name)), str(model_file), "--num-classes", str(classes)])
    assert f"{arch} (CBST fcrna_model_a1), {classes} classes" in capsys.readouterr().out
    model, spec = load_model(model_file)
    assert (spec.arch, spec.num_classes, model.input_convention) == (arch, classes, "imagenet")
    with torch.no_grad():
        outputs = model.eval()(torch.from_numpy(fixture_input(meta["input_shape"], meta["seed"])))
    _assert_close_to_mxnet(outputs["out"], name, meta["output"])
    if "relu7_output" in meta.get("internals", {}):
        _assert_close_to_mxnet(outputs["features"], name, meta["internals"]["relu7_output"])


def test_imagenet_classifier_initialises_the_backbone(tmp_path):
    """ademxapp's rna_model_a1(1000): every array but linear1000 lands in the backbone, the head stays new."""
    meta = _meta("rna_a1_cls1000")
    arrays = fixture_arrays(meta["keys"], meta["seed"])
    model = ResNet38(19)
    head_before = model.classifier.weight.clone()
    report = load_imagenet_weights(model, _write(tmp_path / "ilsvrc.params", arrays))
    assert sorted(report.unexpected) == ["linear1000_bias", "linear1000_weight"]
    assert {key.split(".")[0] for key in report.missing if not key.endswith("num_batches_tracked")} == {
        "conv6a",
        "classifier",
    }
    state = model.state_dict()
    for key, array in arrays.items():
        bare = key.split(":", 1)[1]
        if not bare.startswith("linear1000"):
            np.testing.assert_array_equal(state[torch_key(bare)].numpy(), array, err_msg=bare)
    assert torch.equal(model.classifier.weight, head_before)
    with pytest.raises(ValueError, match="an ImageNet classifier, not a segmentation net"):
        load_cbst_params(tmp_path / "ilsvrc.params")


def _narrow_arrays() -> dict[str, np.ndarray]:
    meta = _meta(NARROW)
    return fixture_arrays(meta["keys"], meta["seed"])


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda a: a.pop("aux:bn7_moving_var"), r"1 missing: bn7.running_var"),
        (lambda a: a.update({"arg:res8a_branch2a_weight": np.zeros((1, 1, 1, 1), np.float32)}), r"1 unexpected"),
        (lambda a: a.update({"arg:fc8_weight": np.zeros(1, np.float32)}), r"1 unexpected: fc8_weight"),
        (
            lambda a: a.update({"arg:res2a_branch1_weight": np.zeros((8, 4, 3, 3), np.float32)}),
            r"1 shape-mismatched: res2a_branch1_weight \(8, 4, 3, 3\) vs res2a.branch1.weight \(8, 4, 1, 1\)",
        ),
        (lambda a: a.update({"arg:linear16_bias": np.zeros(16, np.float32)}), r"one linear<N>_weight/bias"),
        (lambda a: a.update({"arg:conv1a_weight": np.zeros((32, 3, 3, 3), np.float32)}), r"32 output channels"),
    ],
)
def test_a_file_that_does_not_fit_is_an_error_naming_it(tmp_path, edit, message):
    arrays = _narrow_arrays()
    edit(arrays)
    path = _write(tmp_path / "edited.params", arrays)
    with pytest.raises(ValueError, match=rf"edited.params.*{message}"):
        load_cbst_params(path)


def test_class_count_must_match_the_request(tmp_path):
    path = _write(tmp_path / "gta.params", _narrow_arrays())
    with pytest.raises(SystemExit, match="gta.params: the classifier has 19 classes, --num-classes asks for 16"):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(
                "sys.argv", ["udaflow", "import-cbst", str(path), str(tmp_path / "m.pt"), "--num-classes", "16"]
            )
            from pipeline_lib.cli import console

            console()
    assert not (tmp_path / "m.pt").exists()
