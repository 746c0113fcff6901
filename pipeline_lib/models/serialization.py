"""udaflow model files: weights plus what is needed to rebuild the network and feed it correctly.

A model file is a plain dict of tensors and strings (loadable with ``weights_only=True``), so a
released checkpoint can never execute code, and the architecture and input convention travel with
the weights instead of living in a separate config.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

from torch import nn

from pipeline_lib.engine.checkpoint import load_checkpoint, save_checkpoint
from pipeline_lib.models import build_model

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
    state = load_checkpoint(path)
    if state.get("format") != FORMAT:
        raise ValueError(f"{Path(path)}: not a udaflow model file (format {state.get('format')!r}, expected {FORMAT})")
    spec = ModelSpec(**state["spec"])
    model = spec.build()
    model.load_state_dict(state["state_dict"])
    model.input_convention = state["input_convention"]
    return model, spec


def evaluation_preprocessing(path: str | os.PathLike[str]) -> dict | None:
    """The release preprocessing a model file records (None for workflow-trained models)."""
    return load_checkpoint(path).get("evaluation_preprocessing")
