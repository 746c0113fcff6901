"""Dataset-level confusion matrix and IoU, as every reference repo and the official evaluator compute it.

One confusion matrix is accumulated over the whole split, then IoU_c = TP / (TP + FP + FN) and the
mean skips classes that have neither ground truth nor predictions (``np.nanmean``), matching
cityscapesScripts, AdaptSegNet, ADVENT and ProDA (``shared/spec/datasets_eval.md`` §4.1).
SYNTHIA's mIoU16/mIoU13 are subset means of the same per-class IoUs (§3.5, the "drop-3" variant
when the network has 19 outputs).
"""

from __future__ import annotations

import numpy as np
import torch

from pipeline_lib.data.labels import CLASSES_13, CLASSES_16, IGNORE_INDEX, TRAIN_CLASSES

#: Both IDs of a pixel are bytes: the pair (target, prediction) indexes a 256 x 256 joint histogram.
_STRIDE = 256


class ConfusionMatrix:
    """Running num_classes × num_classes pixel counts, rows = ground truth, columns = prediction.

    Counts live on ``device`` as a 256 × 256 histogram of (target, prediction) byte pairs, so an update
    is one fused histogram with no boolean indexing and, on CUDA, no host sync (``index_add_`` instead
    of ``bincount``, which sizes its output on the host). Rows >= num_classes (ignore, 255) are
    dropped when the matrix is read. A prediction outside [0, num_classes) on a labelled pixel is an
    error, raised by ``update`` on CPU and when ``matrix`` is read on CUDA.
    """

    def __init__(self, num_classes: int, device: torch.device | str = "cpu") -> None:
        if not 0 < num_classes < _STRIDE:
            raise ValueError(f"num_classes must lie in [1, {_STRIDE - 1}], got {num_classes}")
        self.num_classes = num_classes
        self._joint = torch.zeros(_STRIDE * _STRIDE, dtype=torch.int64, device=device)

    def update(self, prediction: torch.Tensor, target: torch.Tensor) -> None:
        """Count pixels whose target is a valid class; ignore (255) and out-of-range targets are skipped."""
        if prediction.shape != target.shape:
            raise ValueError(f"prediction shape {tuple(prediction.shape)} != target shape {tuple(target.shape)}")
        device = self._joint.device
        codes = _as_bytes(target.reshape(-1).to(device), self.num_classes).long()
        codes.mul_(_STRIDE).add_(_as_bytes(prediction.reshape(-1).to(device), self.num_classes))
        if device.type == "cpu":
            self._joint += torch.bincount(codes, minlength=_STRIDE * _STRIDE)
            self._check(self._joint.view(_STRIDE, _STRIDE)[: self.num_classes])
        else:
            self._joint.index_add_(0, codes, torch.ones(1, dtype=torch.int64, device=device).expand(codes.numel()))

    def _check(self, rows: torch.Tensor) -> None:
        if bool(rows[:, self.num_classes :].any()):
            raise ValueError(f"prediction holds class IDs outside [0, {self.num_classes})")

    @property
    def matrix(self) -> torch.Tensor:
        """(num_classes, num_classes) int64 counts on the CPU."""
        rows = self._joint.view(_STRIDE, _STRIDE)[: self.num_classes].cpu()
        self._check(rows)
        return rows[:, : self.num_classes].clone()

    def merge(self, other: ConfusionMatrix) -> None:
        self._joint += other._joint.to(self._joint.device)


def _as_bytes(values: torch.Tensor, num_classes: int) -> torch.Tensor:
    """uint8 IDs as they are; wider integers with values outside [0, num_classes) mapped to num_classes."""
    if values.dtype == torch.uint8:
        return values
    return torch.where((values >= 0) & (values < num_classes), values, num_classes).to(torch.uint8)


def per_class_iou(matrix: np.ndarray) -> np.ndarray:
    """IoU per class in [0, 1]; NaN where a class has no ground truth and no prediction."""
    matrix = np.asarray(matrix, dtype=np.float64)
    tp = np.diag(matrix)
    union = matrix.sum(axis=0) + matrix.sum(axis=1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, tp / union, np.nan)


def _mean_percent(values: np.ndarray) -> float | None:
    finite = values[~np.isnan(values)]
    return round(float(finite.mean()) * 100, 4) if finite.size else None


#: ``class_protocol`` of ``miou.json``: how a network's outputs map to the 19 Cityscapes classes.
PROTOCOLS = ("19", "compact16")


#: Target datasets that label only the 13 classes of CLASSES_13 (NTHU Cross-City): their papers report
#: the 13-class mean, which ``miou13`` then gives beside the 19-class ``miou``.
THIRTEEN_CLASS_TARGETS = ("crosscity",)


def summarize(matrix: np.ndarray, source: str, protocol: str = "19", dataset: str = "cityscapes") -> dict:
    """The score part of ``miou.json``: mIoU in percent, per-class IoU by name, and the SYNTHIA protocols.

    ``protocol`` ``19``: a 19-output network; on SYNTHIA ``miou16``/``miou13`` average the 16/13 shared
    classes of the 19-class matrix ("drop-3" variant: ground-truth terrain/truck/train still count as
    false positives of whatever is predicted there, as DA-SAC and the official tool do). ``compact16``:
    a 16-output network (CBST, ProDA/CPSL), whose matrix has no terrain/truck/train pixels at all
    (``evaluation.compact16_as_train_ids``), so ``miou`` is the 16-class mean and ``miou16`` equals it.
    ``dataset`` is the scored split's dataset: on Cross-City, ``miou13`` is its 13-class protocol.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown class protocol {protocol!r}; valid: {', '.join(PROTOCOLS)}")
    num_classes = matrix.shape[0]
    if num_classes != len(TRAIN_CLASSES):
        raise ValueError(f"expected a {len(TRAIN_CLASSES)}-class matrix, got {num_classes}")
    iou = per_class_iou(matrix)
    scores: dict = {
        "miou": _mean_percent(iou),
        "per_class": {
            name: None if np.isnan(value) else round(float(value) * 100, 4)
            for name, value in zip(TRAIN_CLASSES, iou, strict=True)
        },
        "num_classes": num_classes,
        "class_protocol": protocol,
        "pixel_accuracy": round(float(np.trace(matrix) / max(matrix.sum(), 1)) * 100, 4),
    }
    if source == "synthia" or protocol == "compact16":
        scores["miou16"] = _mean_percent(iou[list(CLASSES_16)])
        scores["miou13"] = _mean_percent(iou[list(CLASSES_13)])
        scores["miou16_variant"] = "compact16" if protocol == "compact16" else "drop3"
    if dataset in THIRTEEN_CLASS_TARGETS:
        scores["miou13"] = _mean_percent(iou[list(CLASSES_13)])
    return scores


__all__ = ["ConfusionMatrix", "IGNORE_INDEX", "per_class_iou", "summarize"]
