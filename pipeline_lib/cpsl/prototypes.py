"""Class prototypes: per-class mean features of target pixels and their moving averages (spec §4, §6.2).

``calc_prototype.py`` runs the warm-up model (eval mode) over the target train images at full
resolution, labels every output-stride pixel with the model's own argmax (no threshold), takes per
image and class the mean of the classifier-input feature over that class's pixels (classes with at
least 10 pixels), and folds those image means into a running mean per class whose count is capped
at 3000 (``update_objective_SingleVector(..., 'mean')``). CPSL L2-normalises the result to
initialise its learnable cosine prototypes and keeps an EMA copy (decay 0.999) for rectification.
"""

from __future__ import annotations

import os

import torch

from pipeline_lib.atomic import atomic_path
from pipeline_lib.engine.checkpoint import load_checkpoint

FORMAT = "udaflow-cpsl-prototypes-v1"


def image_class_means(
    features: torch.Tensor, labels: torch.Tensor, num_classes: int, min_pixels: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image and class the mean feature over the class's pixels (``calculate_mean_vector``).

    ``features`` (N, D, h, w), ``labels`` (N, h, w) at the same resolution. Returns ``means``
    (N, C, D) and ``present`` (N, C) bool: the class has at least ``min_pixels`` pixels in the image
    (means of absent classes are 0).
    """
    if features.shape[0] != labels.shape[0] or features.shape[-2:] != labels.shape[-2:]:
        raise ValueError(f"features {tuple(features.shape)} and labels {tuple(labels.shape)} do not align")
    one_hot = torch.nn.functional.one_hot(labels.long().clamp(0, num_classes), num_classes + 1)[..., :num_classes]
    one_hot = one_hot.flatten(1, 2).float()  # N, hw, C (labels >= C, e.g. ignore, count for no class)
    counts = one_hot.sum(dim=1)  # N, C
    sums = torch.einsum("ndp,npc->ncd", features.flatten(2).float(), one_hot)
    means = sums / counts.clamp(min=1)[..., None]
    return means, counts >= min_pixels


class PrototypeAccumulator:
    """The reference's running class mean with a capped count (QUIRK, spec §4).

    ``v_k <- (v_k * n_k + x) / (n_k + 1)``, then ``n_k <- min(n_k + 1, cap)``: once a class has been
    seen ``cap`` times, the mean turns into an exponential average with weight 1/(cap + 1). Vectors
    summing to exactly 0 are skipped, as in the reference.
    """

    def __init__(self, num_classes: int, dim: int, count_cap: int) -> None:
        self.vectors = torch.zeros(num_classes, dim, dtype=torch.float64)
        self.counts = torch.zeros(num_classes, dtype=torch.float64)
        self.count_cap = count_cap

    def update(self, means: torch.Tensor, present: torch.Tensor) -> None:
        """Fold in the image means of ``image_class_means``, image by image in batch order."""
        for image_means, image_present in zip(means.double(), present, strict=True):
            for k in torch.nonzero(image_present).flatten().tolist():
                vector = image_means[k]
                if vector.sum().item() == 0:
                    continue
                self.vectors[k] = (self.vectors[k] * self.counts[k] + vector) / (self.counts[k] + 1)
                self.counts[k] = min(self.counts[k].item() + 1, self.count_cap)

    @property
    def prototypes(self) -> torch.Tensor:
        return self.vectors.float()


def ema_update(ema: torch.Tensor, current: torch.Tensor, decay: float) -> torch.Tensor:
    """``ema <- decay * ema + (1 - decay) * current`` in place (prototype EMA, spec §6.1 L359)."""
    ema.mul_(decay).add_(current.detach(), alpha=1.0 - decay)
    return ema


def cosine_similarity_map(features: torch.Tensor, prototypes: torch.Tensor) -> torch.Tensor:
    """Cosine similarity (N, C, h, w) of every pixel feature (N, D, h, w) to every prototype (C, D).

    Both sides are L2-normalised (``F.normalize``, so a zero vector gives similarity 0).
    """
    features = torch.nn.functional.normalize(features.float(), dim=1)
    prototypes = torch.nn.functional.normalize(prototypes.float(), dim=1)
    return torch.einsum("ndhw,cd->nchw", features, prototypes)


def save_prototypes(path: str | os.PathLike[str], prototypes: torch.Tensor, counts: torch.Tensor | None = None) -> None:
    """``torch.save`` of ``{format, prototypes [C, D] float32, counts [C]}`` (counts when known), atomically."""
    state = {"format": FORMAT, "prototypes": prototypes.detach().float().cpu()}
    if counts is not None:
        state["counts"] = counts.detach().cpu()
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_prototypes(path: str | os.PathLike[str]) -> torch.Tensor:
    """The [C, D] prototypes of a ``save_prototypes`` file."""
    state = load_checkpoint(path)  # names the file when it is truncated or not a torch file
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"{path}: not a udaflow CPSL prototype file (expected format {FORMAT})")
    return state["prototypes"]
