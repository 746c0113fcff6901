"""udaflow model files: weights plus what is needed to rebuild the network and feed it correctly.

A model file is a plain dict of tensors and strings (loadable with ``weights_only=True``), so a
released checkpoint can never execute code, and the architecture and input convention travel with
the weights instead of living in a separate config.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from torch import nn

from pipeline_lib.engine.checkpoint import load_checkpoint, save_checkpoint
from pipeline_lib.models import build_model
from pipeline_lib.models.load_report import listing

FORMAT = "udaflow-model-v1"


@dataclass(frozen=True)
class ModelSpec:
    arch: str
    num_classes: int = 19
    multi_level: bool = False
    aspp_branches_used: int = 4
    head: str = "aspp"  # "proda": ProDA/CPSL Classifier_Module2 (older model files lack the key: "aspp")
    bn_pretrain: bool = False  # CPSL's BatchNorm after layer4 of SimCLR students

    def build(self) -> nn.Module:
        return build_model(
            self.arch, self.num_classes, self.multi_level, self.aspp_branches_used, self.head, self.bn_pretrain
        )


def save_model(path: str | os.PathLike[str], model: nn.Module, spec: ModelSpec) -> None:
    """Write ``model``; an importer's ``evaluation_preprocessing`` (its release's input size and resize
    filter, e.g. AdaptSegNet's 1024x512 PIL bicubic) is recorded for ``udaflow evaluate``. ``load_model``
    does not carry it over, so a model trained from an import does not inherit its release's protocol."""
    payload = {
        "format": FORMAT,
        "spec": asdict(spec),
        "input_convention": model.input_convention,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    preprocessing = getattr(model, "evaluation_preprocessing", None)
    if preprocessing:
        payload["evaluation_preprocessing"] = preprocessing
    save_checkpoint(path, payload)


def load_model(path: str | os.PathLike[str]) -> tuple[nn.Module, ModelSpec]:
    """The model a udaflow model file holds; anything else is a ``ValueError`` naming the file and the problem."""
    state = load_checkpoint(path)
    if not isinstance(state, Mapping) or state.get("format") != FORMAT:
        found = state.get("format") if isinstance(state, Mapping) else type(state).__name__
        raise ValueError(f"{Path(path)}: not a udaflow model file (format {found!r}, expected {FORMAT})")
    try:
        spec = ModelSpec(**state["spec"])
        model = spec.build()
    except (TypeError, ValueError) as err:
        raise ValueError(f"{Path(path)}: its spec {state['spec']} does not build with this udaflow ({err})") from err
    stored, ours = state["state_dict"], model.state_dict()
    categories = {
        "missing": [key for key in ours if key not in stored],
        "unexpected": [key for key in stored if key not in ours],
        "shape-mismatched": [
            f"{key} {tuple(value.shape)} vs {tuple(ours[key].shape)}"
            for key, value in stored.items()
            if key in ours and value.shape != ours[key].shape
        ],
    }
    if any(categories.values()):
        problems = [listing(label, keys) for label, keys in categories.items() if keys]
        raise ValueError(f"{Path(path)}: does not fit {spec.arch}: " + "; ".join(problems))
    model.load_state_dict(stored)
    model.input_convention = state["input_convention"]
    return model, spec


def refuse_model_file(obj: object, path: str | os.PathLike[str], expected: str) -> None:
    """An importer given an already imported udaflow model file stops here, instead of re-importing it
    under the wrong family's conventions (a ``{"state_dict": ...}`` wrapper looks like a checkpoint)."""
    if isinstance(obj, Mapping) and obj.get("format") == FORMAT:
        raise ValueError(
            f"{Path(path)}: a udaflow model file ({obj['spec'].get('arch')}), not {expected}; "
            "evaluate or use it as it is"
        )


def evaluation_preprocessing(path: str | os.PathLike[str]) -> dict | None:
    """The release preprocessing a model file records (None for workflow-trained models)."""
    state = load_checkpoint(path)
    return state.get("evaluation_preprocessing") if isinstance(state, Mapping) else None
