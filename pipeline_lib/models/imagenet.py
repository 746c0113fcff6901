"""Load torchvision-format ImageNet weights into our backbones by key mapping (no torchvision import).

- ResNet (``resnet101-5d3b4d8f.pth``): keys map one to one, ``fc.*`` is dropped (spec A.3.1, Part C).
- ResNet-38 (ademxapp ``ilsvrc-cls_rna-a1_cls1000_ep-0001.params``, an MXNet file): ``cbst_import``.
- VGG-16 (``vgg16-397923af.pth``): ``features.{24,26,28}`` become ``features.{23,25,27}`` (pool4
  removed, spec B.1.5), torchvision's ``classifier.*`` (fc layers) is dropped; fc6/fc7 stay new.
- VGG-16-BN (``vgg16_bn-6c64b313.pth``, DA-SAC's): DeepLab-v2 re-indexes ``features`` past pool4 and
  pool5; FCN-8s files ``features.<i>`` under ``block1``-``block3`` by index; ``classifier.*`` is dropped.

The new parameters (``model.new_parameter_prefixes``) keep their random init. Anything else a file
fails to provide, provides under an unknown name, or provides with the wrong shape is an error:
silently training from a half-loaded backbone is the failure this module exists to prevent.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path

import torch
from torch import nn

from pipeline_lib.engine.checkpoint import load_checkpoint
from pipeline_lib.models.cbst_import import load_imagenet_params
from pipeline_lib.models.deeplabv2 import DeepLabV2ResNet
from pipeline_lib.models.deeplabv2_vgg import TORCHVISION_FEATURE_INDEX, DeepLabV2VGG16
from pipeline_lib.models.load_report import LoadReport, listing, match_keys
from pipeline_lib.models.resnet38 import ResNet38
from pipeline_lib.models.serialization import refuse_model_file
from pipeline_lib.models.vgg16_bn import DEEPLAB_FEATURE_INDEX, DeepLabV2VGG16BN, FCN8sVGG16BN, fcn_block_key

_VGG_FEATURE_KEY = re.compile(r"features\.(\d+)\.(.+)")


def _resnet_key(key: str) -> str | None:
    return key


def _vgg_key(key: str, index_map: Mapping[int, int] = TORCHVISION_FEATURE_INDEX) -> str | None:
    match = _VGG_FEATURE_KEY.fullmatch(key)
    if match is None or int(match.group(1)) not in index_map:
        return None
    return f"features.{index_map[int(match.group(1))]}.{match.group(2)}"


def _vgg_bn_deeplab_key(key: str) -> str | None:
    return _vgg_key(key, DEEPLAB_FEATURE_INDEX)


def _vgg_bn_fcn_key(key: str) -> str | None:
    match = _VGG_FEATURE_KEY.fullmatch(key)
    return None if match is None else f"{fcn_block_key(int(match.group(1)))}.{match.group(2)}"


# model class -> (torchvision key -> our key or None if it has no counterpart, file prefixes dropped by design)
_LAYOUTS: dict[type[nn.Module], tuple[Callable[[str], str | None], tuple[str, ...]]] = {
    DeepLabV2ResNet: (_resnet_key, ("fc.",)),
    DeepLabV2VGG16: (_vgg_key, ("classifier.",)),
    DeepLabV2VGG16BN: (_vgg_bn_deeplab_key, ("classifier.",)),
    FCN8sVGG16BN: (_vgg_bn_fcn_key, ("classifier.",)),
}


def _unwrap_state_dict(obj: object, path: Path) -> dict[str, torch.Tensor]:
    """Accept a plain state dict, ``{"state_dict": ...}``, and ``module.``-prefixed (DataParallel) keys."""
    refuse_model_file(obj, path, "a released checkpoint or torchvision state dict")
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{path}: expected a state dict of tensors, got {type(obj).__name__}")
    return {key.removeprefix("module."): value for key, value in obj.items()}


def load_imagenet_weights(model: nn.Module, path: str | Path) -> LoadReport:
    """Copy a torchvision ImageNet state dict at ``path`` into ``model``'s pretrained (backbone) part.

    Raises FileNotFoundError if ``path`` is absent, TypeError for a model without a known torchvision
    layout, and ValueError (listing the offending keys) if backbone keys are missing, unknown or of
    the wrong shape.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ImageNet weights not found: {path}")
    if isinstance(model, ResNet38):
        return load_imagenet_params(model, path)
    layout = next((layout for cls, layout in _LAYOUTS.items() if isinstance(model, cls)), None)
    if layout is None:
        raise TypeError(f"no torchvision key layout known for {type(model).__name__}")
    map_key, dropped_prefixes = layout
    source = _unwrap_state_dict(load_checkpoint(path), path)
    ours = model.state_dict()

    match = match_keys(source, ours, map_key, dropped_prefixes)
    mapped, dropped, unknown, mismatched = match.mapped, match.dropped, match.unknown, match.mismatched

    new_prefixes: tuple[str, ...] = model.new_parameter_prefixes
    missing = [key for key in ours if key not in mapped]
    required = [
        key
        for key in missing
        if key not in mismatched and not key.startswith(new_prefixes) and not key.endswith(".num_batches_tracked")
    ]
    if required or unknown or mismatched:
        categories = {"missing": required, "unexpected": unknown, "shape-mismatched": list(mismatched.values())}
        problems = [listing(label, keys) for label, keys in categories.items() if keys]
        raise ValueError(
            f"{path} does not fit {type(model).__name__} as a torchvision ImageNet state dict: " + "; ".join(problems)
        )
    model.load_state_dict(mapped, strict=False)
    return LoadReport(loaded=list(mapped), missing=missing, unexpected=dropped)
