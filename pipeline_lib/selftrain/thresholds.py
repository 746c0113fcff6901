"""Class-balanced (CBST) and global (ST) confidence thresholds from streaming histograms.

``shared/spec/cbst_mlsl.md`` §4.3-4.4: every pixel votes for its argmax class c (of the prior-weighted
probabilities) with its confidence max_c; ``cb`` takes, per class, the value at the top ⌊n_c·p⌋ of that
class's sorted confidences, ``global`` the same over all classes pooled. The reference keeps every 4th
pixel in Python lists and sorts them (tens of GB, §14); here each class's confidences fall into
``bins`` equal bins over [0, 1], so memory is C × bins counters whatever the number of pixels, and
shard histograms merge by addition.

Resolution: the returned threshold is the lower edge of the bin that holds the exact ⌊n_c·p⌋-th
largest value v, so ``t <= v < t + 1/bins``. Pixels whose score equals v are all kept, as with the
sorted list; in addition every pixel of that same bin with a score in [t, v) is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from pipeline_lib.intermediate_files import reading

POLICIES: tuple[str, ...] = ("cb", "global")

#: Threshold of a class that gets no pseudo-label (never predicted, or ⌊n_c·p⌋ = 0): r_c = P_c / 1
#: reaches 1 only at certainty, which is how the reference replaces its t_c = 0 (§4.4, L947).
UNLABELLED_THRESHOLD = 1.0
#: Pixels binned per step of ``ConfidenceHistogram.add`` (bounds its temporaries to a few MB).
ADD_CHUNK = 1 << 18


class ConfidenceHistogram:
    """Per-class counts of argmax confidences in ``bins`` equal bins over [0, 1].

    The counters live on ``device``, so a GPU prediction job adds each image without a host sync;
    ``counts`` copies them back once, at the end.
    """

    def __init__(self, num_classes: int, bins: int, device: torch.device | str = "cpu") -> None:
        if bins < 1:
            raise ValueError(f"histogram needs at least one bin, got {bins}")
        self.num_classes = num_classes
        self.bins = bins
        self._flat = torch.zeros(num_classes * bins, dtype=torch.int64, device=device)

    @property
    def counts(self) -> np.ndarray:
        """(C, bins) int64 counts (on CPU, a view of the accumulator)."""
        return self._flat.cpu().numpy().reshape(self.num_classes, self.bins)

    def update(self, scores: torch.Tensor) -> None:
        """Add one image's (C, H, W) scores (probabilities, possibly prior-weighted; in [0, 1])."""
        if scores.shape[0] != self.num_classes:
            raise ValueError(f"scores have {scores.shape[0]} classes, histogram {self.num_classes}")
        confidence, prediction = scores.float().max(dim=0)
        self.add(prediction.reshape(-1), confidence.reshape(-1))

    def add(self, classes: torch.Tensor, confidences: torch.Tensor) -> None:
        """Add (class, confidence) pairs given as two 1-D tensors.

        In chunks of ``ADD_CHUNK`` pixels: the int64 bin indices of a whole 2048x1024 image would
        cost ~100 MB of temporaries, more than the counters themselves.
        """
        device = self._flat.device
        ones = torch.ones(1, dtype=torch.int64, device=device)
        for start in range(0, confidences.numel(), ADD_CHUNK):
            part = confidences[start : start + ADD_CHUNK].to(device).float()
            index = (part.clamp(0.0, 1.0) * self.bins).long().clamp_(max=self.bins - 1)
            index += classes[start : start + ADD_CHUNK].to(device).long() * self.bins
            # A scattered add costs O(pixels), unlike a dense bincount of C x bins per image.
            self._flat.index_put_((index,), ones.expand(index.numel()), accumulate=True)

    def merge(self, other: ConfidenceHistogram) -> None:
        if (other.num_classes, other.bins) != (self.num_classes, self.bins):
            raise ValueError(
                f"cannot merge a {other.num_classes}x{other.bins} histogram into {self.num_classes}x{self.bins}"
            )
        self._flat += other._flat.to(self._flat.device)

    @property
    def class_pixels(self) -> np.ndarray:
        """n_c: pixels whose argmax is c (the reference's ``cls_size`` under ``cb``)."""
        return self.counts.sum(axis=1)

    def save(self, path) -> None:
        np.savez_compressed(path, counts=self.counts)

    @classmethod
    def load(cls, path) -> ConfidenceHistogram:
        """The histogram ``save`` wrote; the ``.npz`` members carry CRC-32s, so changed bytes fail here too."""
        with reading(path, "confidence histogram"), np.load(path) as data:
            counts = data.get("counts")
        if counts is None:
            raise ValueError(f"{path}: not a confidence histogram (no 'counts' array)")
        histogram = cls(counts.shape[0], counts.shape[1])
        histogram._flat = torch.from_numpy(counts.astype(np.int64).reshape(-1))
        return histogram


def _top_portion_value(counts: np.ndarray, portion: float, bins: int) -> float:
    """Lower bin edge of the ⌊n·portion⌋-th largest value of one 1-D histogram (1.0 when that is 0)."""
    kept = int(np.floor(int(counts.sum()) * portion))
    if kept <= 0:
        return UNLABELLED_THRESHOLD
    from_top = np.cumsum(counts[::-1])
    bin_from_top = int(np.searchsorted(from_top, kept))  # first bin where the running count reaches `kept`
    return (bins - 1 - bin_from_top) / bins


@dataclass(frozen=True)
class ClassThresholds:
    """t_c per class (the paper's k_c = -log t_c), with what produced them."""

    policy: str
    portion: float
    thresholds: np.ndarray  # (C,) float64
    class_pixels: np.ndarray  # (C,) int64
    resolution: float


def class_thresholds(histogram: ConfidenceHistogram, portion: float, policy: str) -> ClassThresholds:
    """The per-class thresholds for target portion ``portion`` under ``policy`` (§4.4)."""
    if policy not in POLICIES:
        raise ValueError(f"unknown threshold policy {policy!r}; valid: {', '.join(POLICIES)}")
    if not 0.0 <= portion <= 1.0:
        raise ValueError(f"target portion must lie in [0, 1], got {portion}")
    if policy == "cb":
        values = [_top_portion_value(row, portion, histogram.bins) for row in histogram.counts]
    else:
        common = _top_portion_value(histogram.counts.sum(axis=0), portion, histogram.bins)
        values = [common] * histogram.num_classes
    return ClassThresholds(
        policy=policy,
        portion=portion,
        thresholds=np.asarray(values, dtype=np.float64),
        class_pixels=histogram.class_pixels,
        resolution=1.0 / histogram.bins,
    )


def sorted_thresholds(classes: np.ndarray, confidences: np.ndarray, num_classes: int, portion: float, policy: str):
    """The reference's sort-everything thresholds (without its 1/4 subsample): the brute-force oracle."""
    def top(values: np.ndarray) -> float:
        kept = int(np.floor(len(values) * portion))
        if kept <= 0:
            return UNLABELLED_THRESHOLD
        return float(np.sort(values)[::-1][kept - 1])

    if policy == "global":
        return np.full(num_classes, top(confidences))
    return np.asarray([top(confidences[classes == c]) for c in range(num_classes)])
