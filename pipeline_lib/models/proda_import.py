"""Import released CPSL / ProDA ``.pkl`` checkpoints into udaflow model files (cpsl_proda.md §9).

A released file (``from_gta5_to_cityscapes_on_deeplabv2_best_model.pkl``, despite the suffix a
``torch.save`` zip) is ``{"ResNet101": {"model_state": <state dict>, "prototypes_ema": [C, 256]},
"iter": int, "best_iou": float}``; a warm-up file also has ``"FCDiscriminator"``. ``model_state`` is
the unwrapped ``BaseNet.state_dict()``: torchvision-named ResNet keys, ProDA's ``Classifier_Module2``
head under ``layer5.*`` and, for the SimCLR students of stages 2/3, ``bn_pretrain.*`` (§8). The import
builds our ``DeepLabV2ResNet(head="proda")`` with the matching options, which shares every key name,
and records ProDA's input convention (RGB/255, no mean or std, ``rgb01``).

Only BN ``num_batches_tracked`` counters may be missing or extra (old PyTorch versions did not save
them; SyncBN-era files may). Any other missing, unexpected or mis-shaped key is an error listing the
keys. A state dict saved from ``DataParallel`` (``module.`` prefix) or a bare state dict is accepted too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from pipeline_lib.engine.checkpoint import load_checkpoint
from pipeline_lib.models.load_report import listing
from pipeline_lib.models.serialization import ModelSpec, refuse_model_file, save_model

#: Input convention of every ProDA/CPSL checkpoint (spec §2.1: mean zeros, no std).
PRODA_CONVENTION = "rgb01"
#: The network's entry in the released dict (``net.__class__.__name__``).
NETWORK_KEY = "ResNet101"
_RESNET_BY_STEM_WIDTH = {64: "deeplabv2_resnet101", 16: "deeplabv2_resnet_tiny"}
_CLASSIFIER_KEY = "layer5.head.1.weight"
_COUNTER_SUFFIX = ".num_batches_tracked"


@dataclass(frozen=True)
class ProdaImportReport:
    """What an import did: ``loaded`` tensors, counters ``missing`` from / ``ignored`` in the file.

    ``prototypes`` holds the file's ``prototypes_ema`` ([C, 256], float32 on the CPU) when present and
    not all zero (only stage-1 checkpoints carry learned prototypes, §9), else ``None``.
    """

    loaded: list[str]
    missing: list[str]
    ignored: list[str]
    prototypes: torch.Tensor | None
    iteration: int | None
    best_iou: float | None


def _read(path: Path) -> object:
    """``torch.load`` restricted to tensors and containers, plus the NumPy scalar ``best_iou`` is saved as."""
    scalar = np._core.multiarray.scalar  # pickled by NumPy 1 as numpy.core.multiarray.scalar
    numpy_scalars = [
        scalar,
        (scalar, "numpy.core.multiarray.scalar"),
        np.dtype,
        np.dtypes.Float64DType,
        np.dtypes.Float32DType,
    ]
    return load_checkpoint(path, numpy_scalars)


def released_state(obj: object, path: Path) -> tuple[dict[str, torch.Tensor], dict[str, object]]:
    """Split a released checkpoint into its network state dict and the rest (prototypes, iteration, IoU)."""
    refuse_model_file(obj, path, "a CPSL/ProDA checkpoint")
    extras: dict[str, object] = {}
    if isinstance(obj, Mapping) and isinstance(obj.get(NETWORK_KEY), Mapping):
        extras = {key: obj[key] for key in ("iter", "best_iou") if key in obj}
        network = obj[NETWORK_KEY]
        if "model_state" not in network:
            raise ValueError(f"{path}: ['{NETWORK_KEY}'] has no 'model_state' (keys: {sorted(network)})")
        if "prototypes_ema" in network:
            extras["prototypes_ema"] = network["prototypes_ema"]
        obj = network["model_state"]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(
            f"{path}: expected {{'{NETWORK_KEY}': {{'model_state': ...}}}} or a state dict of tensors, "
            f"got {type(obj).__name__}"
        )
    return {key.removeprefix("module."): value for key, value in obj.items()}, extras


def infer_proda_spec(state: Mapping[str, torch.Tensor]) -> ModelSpec:
    """The architecture a ProDA/CPSL ``BaseNet`` state dict was saved from: stem width, classes, bn_pretrain."""
    if "conv1.weight" not in state:
        raise ValueError("no conv1.weight: not a DeepLab-v2 ResNet state dict")
    width = state["conv1.weight"].shape[0]
    if width not in _RESNET_BY_STEM_WIDTH:
        raise ValueError(
            f"conv1.weight has {width} output channels; known stem widths: {sorted(_RESNET_BY_STEM_WIDTH)}"
        )
    if _CLASSIFIER_KEY not in state:
        raise ValueError(f"no {_CLASSIFIER_KEY}: not a ProDA/CPSL Classifier_Module2 head")
    return ModelSpec(
        arch=_RESNET_BY_STEM_WIDTH[width],
        num_classes=state[_CLASSIFIER_KEY].shape[0],
        head="proda",
        bn_pretrain="bn_pretrain.weight" in state,
    )


def load_proda_checkpoint(path: str | Path) -> tuple[torch.nn.Module, ModelSpec, ProdaImportReport]:
    """Build the matching model for the released checkpoint at ``path`` and load every tensor into it.

    Raises FileNotFoundError, or ValueError naming ``path`` and the offending keys.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"CPSL/ProDA checkpoint not found: {path}")
    state, extras = released_state(_read(path), path)
    try:
        spec = infer_proda_spec(state)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from err
    model = spec.build()
    ours = model.state_dict()
    ignored = [key for key in state if key not in ours and key.endswith(_COUNTER_SUFFIX)]
    unexpected = [key for key in state if key not in ours and not key.endswith(_COUNTER_SUFFIX)]
    mismatched = [
        f"{key} {tuple(state[key].shape)} vs {tuple(ours[key].shape)}"
        for key in state
        if key in ours and state[key].shape != ours[key].shape
    ]
    missing = [key for key in ours if key not in state]
    required = [key for key in missing if not key.endswith(_COUNTER_SUFFIX)]
    if required or unexpected or mismatched:
        categories = {"missing": required, "unexpected": unexpected, "shape-mismatched": mismatched}
        problems = [listing(label, keys) for label, keys in categories.items() if keys]
        raise ValueError(f"{path} does not fit {spec.arch} with the ProDA head: " + "; ".join(problems))
    loaded = [key for key in state if key in ours]
    model.load_state_dict({key: state[key] for key in loaded}, strict=False)
    model.input_convention = PRODA_CONVENTION
    prototypes = extras.get("prototypes_ema")
    if prototypes is not None:
        prototypes = prototypes.detach().float().cpu()
        if not bool(prototypes.abs().sum() > 0):
            prototypes = None  # stage-2/3 files carry an all-zero placeholder (§9)
        elif tuple(prototypes.shape) != (spec.num_classes, model.layer5.feature_channels):
            raise ValueError(
                f"{path}: prototypes_ema has shape {tuple(prototypes.shape)}, but the network's classes and "
                f"head feature give ({spec.num_classes}, {model.layer5.feature_channels})"
            )
    report = ProdaImportReport(
        loaded=loaded,
        missing=missing,
        ignored=ignored,
        prototypes=prototypes,
        iteration=int(extras["iter"]) if "iter" in extras else None,
        best_iou=float(extras["best_iou"]) if "best_iou" in extras else None,
    )
    return model, spec, report


def import_proda(checkpoint: str | Path, model_out: str | Path) -> tuple[ModelSpec, ProdaImportReport]:
    """Write a released CPSL/ProDA checkpoint as a udaflow model file that ``load_model`` and evaluation read."""
    model, spec, report = load_proda_checkpoint(checkpoint)
    save_model(model_out, model, spec)
    return spec, report
