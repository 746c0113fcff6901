"""Import AdaptSegNet's released checkpoints into udaflow model files (spec B.1, B.8).

The released files are plain ``model.state_dict()`` dicts of ``DeeplabMulti`` (``layer5`` on layer3,
``layer6`` on layer4), ``Res_Deeplab`` (one ``layer5`` on layer4) or ``DeeplabVGG`` (``features.*``,
``classifier.*``), whose key names our models share (spec Part C). Three things make them reproduce
the published numbers, and the import records all of them in the model file:

- the **two-branch ASPP** (``aspp_branches_used=2``): the reference head returns inside its loop,
  so only the dilation-6 and -12 branches ever ran (B.1.3);
- the **Caffe input convention** ``caffe_bgr``: BGR on 0..255 minus the Caffe mean, no std (B.3);
- the BN running statistics the checkpoint carries (adapted in train mode, B.1.1), loaded as is;
- its evaluation's preprocessing (1024x512, PIL bicubic), which ``udaflow evaluate`` then applies.

PyTorch <= 0.3 files have no ``num_batches_tracked``; those keys, and only those, may be missing.
Everything else must match by name and shape, or the import fails listing the offending keys.
"""

from __future__ import annotations

from pathlib import Path

import torch

from pipeline_lib.engine.checkpoint import load_checkpoint
from pipeline_lib.models.imagenet import _unwrap_state_dict
from pipeline_lib.models.load_report import LoadReport, listing
from pipeline_lib.models.serialization import ModelSpec, save_model

#: Input convention of every AdaptSegNet checkpoint (spec B.3).
ADAPTSEGNET_CONVENTION = "caffe_bgr"
#: How AdaptSegNet's ``evaluate_cityscapes.py`` feeds val images (spec B.7): PIL bicubic to 1024x512.
ADAPTSEGNET_EVALUATION = {"input_size": [1024, 512], "resize": "pil_bicubic"}
#: ASPP branches the released heads were trained and evaluated with (spec B.1.3).
RELEASED_ASPP_BRANCHES = 2
# Width of ``conv1`` (the stem) -> our ResNet architecture with that width.
RESNET_BY_STEM_WIDTH = {64: "deeplabv2_resnet101", 16: "deeplabv2_resnet_tiny"}


def infer_spec(state: dict[str, torch.Tensor], aspp_branches_used: int = RELEASED_ASPP_BRANCHES) -> ModelSpec:
    """The architecture a reference state dict was saved from, told apart by its keys.

    ``features.0.weight`` -> ``DeeplabVGG``; otherwise a ResNet whose stem width picks the variant and
    whose ``layer6`` marks ``DeeplabMulti``. The class count comes from the main head's bias.
    """
    if "features.0.weight" in state:
        arch, multi_level, head = "deeplabv2_vgg16", False, "classifier"
    elif "conv1.weight" in state:
        width = state["conv1.weight"].shape[0]
        if width not in RESNET_BY_STEM_WIDTH:
            known = sorted(RESNET_BY_STEM_WIDTH)
            raise ValueError(f"conv1.weight has {width} output channels; known ResNet stem widths: {known}")
        arch = RESNET_BY_STEM_WIDTH[width]
        multi_level = any(key.startswith("layer6.") for key in state)
        head = "layer6" if multi_level else "layer5"
    else:
        raise ValueError("neither conv1.weight (DeepLab ResNet) nor features.0.weight (DeeplabVGG) is present")
    bias = f"{head}.conv2d_list.0.bias"
    if bias not in state:
        raise ValueError(f"no {bias}: not an AdaptSegNet segmentation checkpoint")
    return ModelSpec(
        arch=arch, num_classes=state[bias].shape[0], multi_level=multi_level, aspp_branches_used=aspp_branches_used
    )


def load_adaptsegnet_state_dict(
    path: str | Path, aspp_branches_used: int = RELEASED_ASPP_BRANCHES
) -> tuple[torch.nn.Module, ModelSpec, LoadReport]:
    """Build the matching model for the checkpoint at ``path`` and load every tensor into it.

    Returns the model (``input_convention`` set to ``caffe_bgr``), its spec and what was loaded; the
    report's ``missing`` lists only ``num_batches_tracked`` keys, ``unexpected`` is always empty.
    Raises FileNotFoundError, or ValueError naming ``path`` and the missing/unknown/mis-shaped keys.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"AdaptSegNet checkpoint not found: {path}")
    state = _unwrap_state_dict(load_checkpoint(path), path)
    try:
        spec = infer_spec(state, aspp_branches_used)
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
        raise ValueError(f"{path} does not fit {spec.arch} (multi_level={spec.multi_level}): " + "; ".join(problems))
    model.load_state_dict(state, strict=False)
    model.input_convention = ADAPTSEGNET_CONVENTION
    model.evaluation_preprocessing = dict(ADAPTSEGNET_EVALUATION)
    return model, spec, LoadReport(loaded=list(state), missing=missing, unexpected=[])


def import_adaptsegnet(
    checkpoint: str | Path, model_out: str | Path, aspp_branches_used: int = RELEASED_ASPP_BRANCHES
) -> tuple[ModelSpec, LoadReport]:
    """Write a released AdaptSegNet checkpoint as a udaflow model file that ``load_model`` and evaluation read."""
    model, spec, report = load_adaptsegnet_state_dict(checkpoint, aspp_branches_used)
    save_model(model_out, model, spec)
    return spec, report
