"""Import CBST/MLSL's released MXNet ResNet-38 models (``.params``) into udaflow models.

Files this serves (CBST and MLSL READMEs): the segmentation nets ``gta_rna-a1_cls19_s8_ep-0000.params``,
``synthia_rna-a1_cls16_s8_ep-0000.params`` and MLSL's GTA5 source model (``fcrna_model_a1``, 195
keys), and the ImageNet classifier ``ilsvrc-cls_rna-a1_cls1000_ep-0001.params`` (``rna_model_a1(1000)``,
193 keys) as ``model.imagenet_weights``. Names map by rule onto ``ResNet38``'s modules, which mirror
them; every tensor must find its place with its shape, and every place must be filled (BN
``num_batches_tracked`` aside, which MXNet has no counterpart for), or the import fails naming the keys.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

from pipeline_lib.models.load_report import LoadReport, listing, match_keys
from pipeline_lib.models.mxnet_params import read_params
from pipeline_lib.models.resnet38 import HEAD_PREFIXES, ResNet38
from pipeline_lib.models.serialization import ModelSpec, save_model

#: Width of ``conv1a`` -> our architecture with that width (the tiny one is the demo's and the fixtures').
ARCH_BY_STEM_WIDTH = {64: "resnet38", 4: "resnet38_tiny"}
_BN_FIELDS = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean", "moving_var": "running_var"}
_BRANCH_CONV = re.compile(r"res(\w+?)_branch(1|2a|2b\d)_weight")
_BRANCH_BN = re.compile(r"bn(\w+?)_branch(2a|2b\d)_(gamma|beta|moving_mean|moving_var)")
_PLAIN = re.compile(r"(conv1a|conv6a)_(weight|bias)")
_BN7 = re.compile(r"bn7_(gamma|beta|moving_mean|moving_var)")
_LINEAR = re.compile(r"linear(\d+)_(weight|bias)")


def torch_key(name: str) -> str | None:
    """Our ``state_dict`` key for an MXNet parameter name, or None if the name follows no known rule."""
    if match := _BRANCH_CONV.fullmatch(name):
        block, branch = match.groups()
        return f"res{block}.branch1.weight" if branch == "1" else f"res{block}.branch{branch}.conv.weight"
    if match := _BRANCH_BN.fullmatch(name):
        block, branch, field = match.groups()
        return f"res{block}.branch{branch}.bn.{_BN_FIELDS[field]}"
    if match := _PLAIN.fullmatch(name):
        return f"{match.group(1)}.{match.group(2)}"
    if match := _BN7.fullmatch(name):
        return f"bn7.{_BN_FIELDS[match.group(1)]}"
    if match := _LINEAR.fullmatch(name):
        return f"classifier.{match.group(2)}"
    return None


def _named_arrays(path: Path) -> dict[str, np.ndarray]:
    args, auxs = read_params(path)
    clash = sorted(set(args) & set(auxs))
    if clash:
        raise ValueError(f"{path}: names both arg: and aux: {', '.join(clash)}")
    return {**args, **auxs}


def _classes(path: Path, arrays: dict[str, np.ndarray]) -> int:
    linear = sorted({m.group(1) for name in arrays if (m := _LINEAR.fullmatch(name))})
    if len(linear) != 1:
        raise ValueError(f"{path}: expected one linear<N>_weight/bias classifier, found {linear or 'none'}")
    return int(linear[0])


def infer_spec(path: Path, arrays: dict[str, np.ndarray]) -> ModelSpec:
    """ResNet-38 width from ``conv1a_weight``, class count from ``linear<N>_bias``."""
    if "conv1a_weight" not in arrays:
        raise ValueError(f"{path}: no conv1a_weight: not an ademxapp rna-a1 (ResNet-38) model")
    width = arrays["conv1a_weight"].shape[0]
    if width not in ARCH_BY_STEM_WIDTH:
        raise ValueError(
            f"{path}: conv1a_weight has {width} output channels; known widths: {sorted(ARCH_BY_STEM_WIDTH)}"
        )
    return ModelSpec(arch=ARCH_BY_STEM_WIDTH[width], num_classes=_classes(path, arrays))


def _load_into(
    model: ResNet38, path: Path, arrays: dict[str, np.ndarray], dropped: tuple[str, ...], optional: tuple[str, ...]
) -> LoadReport:
    """Copy ``arrays`` into ``model``: names starting with ``dropped`` are skipped, keys of ours
    starting with ``optional`` may stay at their init; anything else unmatched is an error."""
    ours = model.state_dict()
    match = match_keys(arrays, ours, torch_key, dropped)
    mapped = {key: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)) for key, a in match.mapped.items()}
    missing = [key for key in ours if key not in mapped]
    required = [
        k
        for k in missing
        if k not in match.mismatched and not k.startswith(optional) and not k.endswith(".num_batches_tracked")
    ]
    if match.unknown or match.mismatched or required:
        categories = {
            "missing": required,
            "unexpected": match.unknown,
            "shape-mismatched": list(match.mismatched.values()),
        }
        problems = [listing(label, keys) for label, keys in categories.items() if keys]
        raise ValueError(f"{path} does not fit {type(model).__name__}: " + "; ".join(problems))
    model.load_state_dict(mapped, strict=False)
    return LoadReport(loaded=list(mapped), missing=missing, unexpected=match.dropped)


def load_cbst_params(path: str | Path, num_classes: int | None = None) -> tuple[ResNet38, ModelSpec, LoadReport]:
    """The ResNet-38 segmentation net of a released ``fcrna_model_a1`` ``.params`` file, every key loaded.

    ``num_classes``, if given, must equal the file's (19 for GTA5, 16 for SYNTHIA).
    """
    path = Path(path)
    arrays = _named_arrays(path)
    spec = infer_spec(path, arrays)
    if num_classes is not None and num_classes != spec.num_classes:
        raise ValueError(f"{path}: the classifier has {spec.num_classes} classes, --num-classes asks for {num_classes}")
    if "conv6a_weight" not in arrays:
        raise ValueError(
            f"{path}: no conv6a_weight: an ImageNet classifier, not a segmentation net "
            "(use it as model.imagenet_weights)"
        )
    model = spec.build()
    report = _load_into(model, path, arrays, dropped=(), optional=())
    return model, spec, report


def load_imagenet_params(model: ResNet38, path: str | Path) -> LoadReport:
    """Initialise ``model``'s backbone from ademxapp's ImageNet ``rna_model_a1`` classifier.

    Its ``linear1000`` fully connected layer is dropped; ``conv6a`` and the classifier keep their init.
    """
    path = Path(path)
    arrays = _named_arrays(path)
    if "conv6a_weight" in arrays:
        raise ValueError(
            f"{path}: has conv6a_weight: a segmentation net, not the ImageNet classifier "
            "(import it with udaflow import-cbst)"
        )
    linear = _classes(path, arrays)
    return _load_into(model, path, arrays, dropped=(f"linear{linear}_",), optional=HEAD_PREFIXES)


def import_cbst(
    params: str | Path, model_out: str | Path, num_classes: int | None = None
) -> tuple[ModelSpec, LoadReport]:
    """Write a released CBST/MLSL ``.params`` model as a udaflow model file."""
    model, spec, report = load_cbst_params(params, num_classes)
    save_model(model_out, model, spec)
    return spec, report
