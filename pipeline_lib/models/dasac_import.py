"""Import DA-SAC's released snapshots into udaflow model files (spec A.8, A.7).

A snapshot is ``torch.save({"model", "opt", "score", "epoch"})`` of the ``DistributedDataParallel``-
wrapped ``SAC`` / ``SAC_Baseline`` (``utils/checkpoints.py`` L62-71). For DeepLab-v2 ResNet-101 the
model keys are

- ``module.backbone.model.{conv1,bn1,layer1..4,layer5.conv2d_list.0..3}.*``: the student, which is what
  the paper evaluates (``infer_val.py``, A.7);
- ``module.slow_net.model.<same>``: the momentum teacher (final snapshots only);
- ``module.running_conf`` (the class prior) and ``module.slow_init`` (final snapshots only).

After stripping ``module.<network>.model.`` the keys are exactly our ``DeepLabV2ResNet``'s (spec
Part C) with the four-branch ASPP head. The VGG-16-BN networks have no ``model.`` level:
``module.backbone.features.*`` / ``classifier.*`` is DeepLab-v2 (``deeplabv2_vgg16_bn``),
``module.backbone.block1..3.*`` / ``vgg_head.*`` / ``score_pool4.*`` / ``score_pool3.*`` is FCN-8s
(``fcn_vgg16_bn``), both ``pipeline_lib.models.vgg16_bn``. Inputs are RGB/255 normalised with the
ImageNet mean and std (A.4.2; the source renormalisation only applies to training inputs), our
``imagenet`` convention.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from pipeline_lib.engine.checkpoint import load_checkpoint
from pipeline_lib.models.adaptsegnet_import import RESNET_BY_STEM_WIDTH
from pipeline_lib.models.load_report import listing
from pipeline_lib.models.serialization import ModelSpec, refuse_model_file, save_model

#: The network each released snapshot holds: the student (evaluated) or the momentum teacher.
NETWORKS = {"student": "backbone.", "teacher": "slow_net."}
#: Keys of the ``SAC`` wrapper that belong to no network.
WRAPPER_KEYS = ("running_conf", "slow_init")
#: Input convention of every DA-SAC model (ImageNet normalisation, A.4.2).
DASAC_CONVENTION = "imagenet"
#: The key that tells each VGG-16-BN network, and the one that holds its classifier bias (class count).
_VGG_NETWORKS = {
    "deeplabv2_vgg16_bn": ("features.1.running_mean", "classifier.conv2d_list.0.bias"),
    "fcn_vgg16_bn": ("block1.1.running_mean", "vgg_head.8.bias"),
}


@dataclass(frozen=True)
class DasacImport:
    """What an import did: our keys ``loaded`` and ``missing`` (``num_batches_tracked`` only), and the
    snapshot's keys ``ignored`` by design (the other network, the wrapper's buffers)."""

    spec: ModelSpec
    loaded: list[str]
    missing: list[str]
    ignored: list[str]


def _read_snapshot(path: Path) -> Mapping[str, torch.Tensor]:
    """The ``model`` state dict of a snapshot (or a bare state dict), loaded without running code.

    ``score`` may be a NumPy scalar; its reconstruction functions (under NumPy 2's and NumPy 1's module
    name) and dtypes are allowed, nothing else.
    """
    scalar = np._core.multiarray.scalar
    numpy_scalars = [scalar, (scalar, "numpy.core.multiarray.scalar"), np.dtype, *{type(np.dtype(t)) for t in "fdil?"}]
    data = load_checkpoint(path, numpy_scalars)
    refuse_model_file(data, path, "a DA-SAC snapshot")
    state = data.get("model", data) if isinstance(data, Mapping) else data
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path}: expected a DA-SAC snapshot with a 'model' state dict, got {type(data).__name__}")
    return state


def map_dasac_keys(
    state: Mapping[str, torch.Tensor], network: str = "student"
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """``module.<network>.model.X`` -> ``X`` for the chosen network; returns (mapped, ignored keys).

    Raises ValueError when the snapshot has no such network (an ABN snapshot has no teacher) or holds
    an architecture udaflow does not have.
    """
    if network not in NETWORKS:
        raise ValueError(f"unknown network {network!r}; valid: {', '.join(NETWORKS)}")
    prefix = NETWORKS[network]
    mapped: dict[str, torch.Tensor] = {}
    ignored: list[str] = []
    for key, value in state.items():
        bare = key.removeprefix("module.")
        if not bare.startswith(prefix):
            ignored.append(key)
            continue
        mapped[bare.removeprefix(prefix).removeprefix("model.")] = value
    if not mapped:
        hint = " (ABN baseline snapshots hold only the student)" if network == "teacher" else ""
        raise ValueError(f"no module.{prefix}* keys: the snapshot has no {network} network{hint}")
    return mapped, ignored


def infer_dasac_spec(state: Mapping[str, torch.Tensor]) -> ModelSpec:
    """Our network matching the mapped keys: a VGG-16-BN one by its key layout, else the single-level,
    four-branch DeepLab-v2 ResNet whose stem width picks the variant; the head's bias gives the classes."""
    for arch, (marker, classifier_bias) in _VGG_NETWORKS.items():
        if marker in state and classifier_bias in state:
            return ModelSpec(arch=arch, num_classes=state[classifier_bias].shape[0])
    if "conv1.weight" not in state or "layer5.conv2d_list.0.bias" not in state:
        raise ValueError(
            "neither conv1.weight and layer5.conv2d_list.0.bias (DeepLab-v2 ResNet) nor the VGG-16-BN keys "
            f"{', '.join(key for pair in _VGG_NETWORKS.values() for key in pair)}: not a DA-SAC network"
        )
    width = state["conv1.weight"].shape[0]
    if width not in RESNET_BY_STEM_WIDTH:
        known = sorted(RESNET_BY_STEM_WIDTH)
        raise ValueError(f"conv1.weight has {width} output channels; known ResNet stem widths: {known}")
    num_classes = state["layer5.conv2d_list.0.bias"].shape[0]
    return ModelSpec(arch=RESNET_BY_STEM_WIDTH[width], num_classes=num_classes, aspp_branches_used=4)


def load_dasac_snapshot(path: str | Path, network: str = "student") -> tuple[torch.nn.Module, DasacImport]:
    """Build our DeepLab-v2 for the snapshot at ``path`` and load its ``network`` into it.

    Everything under the network's prefix must match our keys by name and shape; only
    ``num_batches_tracked`` may be absent. Raises FileNotFoundError, or ValueError naming the file and
    every missing, unexpected or mis-shaped key.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"DA-SAC snapshot not found: {path}")
    try:
        state, ignored = map_dasac_keys(_read_snapshot(path), network)
        spec = infer_dasac_spec(state)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from err
    model = spec.build()
    ours = model.state_dict()
    unexpected = [key for key in state if key not in ours]
    mismatched = [
        f"{key} {tuple(state[key].shape)} vs {tuple(ours[key].shape)}"
        for key in state
        if key in ours and state[key].shape != ours[key].shape
    ]
    missing = [key for key in ours if key not in state]
    required = [key for key in missing if not key.endswith(".num_batches_tracked")]
    if required or unexpected or mismatched:
        categories = {"missing": required, "unexpected": unexpected, "shape-mismatched": mismatched}
        problems = [listing(label, keys) for label, keys in categories.items() if keys]
        raise ValueError(f"{path}: the {network} does not fit {spec.arch}: " + "; ".join(problems))
    model.load_state_dict(state, strict=False)
    model.input_convention = DASAC_CONVENTION
    return model, DasacImport(spec=spec, loaded=list(state), missing=missing, ignored=ignored)


def import_dasac(checkpoint: str | Path, model_out: str | Path, network: str = "student") -> DasacImport:
    """Write a released DA-SAC snapshot's student (or teacher) as a udaflow model file."""
    model, report = load_dasac_snapshot(checkpoint, network)
    save_model(model_out, model, report.spec)
    return report
