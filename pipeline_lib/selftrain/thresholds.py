"""Class-balanced (CBST) and global (ST) confidence thresholds from streaming histograms.

``shared/spec/cbst_mlsl.md`` §4.3-4.4: every pixel votes for its argmax class c (of the prior-weighted
probabilities) with its confidence max_c; ``cb`` takes, per class, the value at the top ⌊n_c·p⌋ of that
class's sorted confidences, ``global`` the same over all classes pooled. The reference keeps every 4th
pixel in Python lists and sorts them (tens of GB, §14); here each class's confidences fall into
``bins`` bins, so memory is C × bins counters whatever the number of pixels, and shard histograms
merge by addition.

Bin edges are equal steps of g(v) = bins · v + ln(v / MIN_CONFIDENCE) / RELATIVE_RESOLUTION, so a bin
is never wider than 1/bins (1e-5 at 1e5 bins, where most raw softmax confidences lie) nor than
RELATIVE_RESOLUTION · v (5e-4 · v), which keeps prior-weighted CBST-SP confidences near 4e-4 as
precise as large ones: with equal bins over [0, 1] alone their thresholds were 2.8 % coarse and
labelled ~2 % more pixels of a rare class than CBST's sort. Confidences below MIN_CONFIDENCE (1e-8)
share the first bin. The relative part adds ln(1e8) / 5e-4 = 36 842 bins to ``bins``.

The returned threshold is the lower edge of the bin that holds the exact ⌊n_c·p⌋-th largest value v,
so ``t <= v``. Pixels whose score equals v are all kept, as with the sorted list; in addition every
pixel of that same bin with a score in [t, v) is kept.
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
#: No bin is wider than this share of the confidences it holds (besides 1/bins).
RELATIVE_RESOLUTION = 5e-4
#: Confidences below this fall in the first bin.
MIN_CONFIDENCE = 1e-8
#: The bin scale a saved histogram records; files without it (equal bins over [0, 1]) are refused.
SCALE = "linear+log"


def _scale(v: np.ndarray | torch.Tensor | float, linear_bins: int):
    """g(v): the continuous bin coordinate of confidences in [MIN_CONFIDENCE, 1] (monotonic)."""
    log = torch.log if isinstance(v, torch.Tensor) else np.log
    return linear_bins * v + log(v / MIN_CONFIDENCE) / RELATIVE_RESOLUTION


class ConfidenceHistogram:
    """Per-class counts of argmax confidences in bins no wider than 1/``linear_bins`` nor than
    RELATIVE_RESOLUTION of their confidence (``bins`` of them in all).

    The counters live on ``device``, so a GPU prediction job adds each image without a host sync;
    ``counts`` copies them back once, at the end.
    """

    def __init__(self, num_classes: int, linear_bins: int, device: torch.device | str = "cpu") -> None:
        if linear_bins < 1:
            raise ValueError(f"histogram needs at least one bin, got {linear_bins}")
        self.num_classes = num_classes
        self.linear_bins = linear_bins
        self.bins = int(_scale(1.0, linear_bins)) + 1  # a confidence of 1 in the last bin
        self._flat = torch.zeros(num_classes * self.bins, dtype=torch.int64, device=device)

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
            index = self.bin_index(confidences[start : start + ADD_CHUNK].to(device))
            index += classes[start : start + ADD_CHUNK].to(device).long() * self.bins
            # A scattered add costs O(pixels), unlike a dense bincount of C x bins per image.
            self._flat.index_put_((index,), ones.expand(index.numel()), accumulate=True)

    def bin_index(self, confidences: torch.Tensor) -> torch.Tensor:
        """The bin of each confidence, computed in float64 (0 and anything below MIN_CONFIDENCE: bin 0)."""
        v = confidences.double().clamp(MIN_CONFIDENCE, 1.0)
        return _scale(v, self.linear_bins).clamp_(0, self.bins - 1).long()

    def lower_edge(self, index: int) -> float:
        """The smallest confidence of bin ``index`` (0 for the first bin, which also holds 0): g(v) = index,
        solved by bisection in float64 (called once per class and round)."""
        if index <= 0:
            return 0.0
        low, high = MIN_CONFIDENCE, 1.0
        for _ in range(200):
            middle = 0.5 * (low + high)
            if middle in (low, high):
                break
            if _scale(middle, self.linear_bins) >= index:
                high = middle
            else:
                low = middle
        return high  # the smallest float64 with g(v) >= index: every value binned at index or above is >= it

    def merge(self, other: ConfidenceHistogram) -> None:
        if (other.num_classes, other.linear_bins) != (self.num_classes, self.linear_bins):
            raise ValueError(
                f"cannot merge a {other.num_classes}x{other.linear_bins} histogram into "
                f"{self.num_classes}x{self.linear_bins}"
            )
        self._flat += other._flat.to(self._flat.device)

    @property
    def class_pixels(self) -> np.ndarray:
        """n_c: pixels whose argmax is c (the reference's ``cls_size`` under ``cb``)."""
        return self.counts.sum(axis=1)

    def save(self, path) -> None:
        np.savez_compressed(
            path,
            counts=self.counts,
            scale=np.array(SCALE),
            linear_bins=np.array(self.linear_bins),
            relative_resolution=np.array(RELATIVE_RESOLUTION),
        )

    @classmethod
    def load(cls, path) -> ConfidenceHistogram:
        """The histogram ``save`` wrote; the ``.npz`` members carry CRC-32s, so changed bytes fail here too."""
        with reading(path, "confidence histogram"), np.load(path) as data:
            counts = data.get("counts")
            scale = str(data["scale"]) if "scale" in data else None
            relative = float(data["relative_resolution"]) if "relative_resolution" in data else None
            linear_bins = int(data["linear_bins"]) if "linear_bins" in data else 0
        if counts is None:
            raise ValueError(f"{path}: not a confidence histogram (no 'counts' array)")
        if (scale, relative) != (SCALE, RELATIVE_RESOLUTION):
            raise ValueError(
                f"{path}: a confidence histogram with {scale or 'equal [0, 1]'} bins from an older udaflow, "
                f"not {SCALE} bins at relative resolution {RELATIVE_RESOLUTION}: delete it (the round's "
                "prediction job writes it again)"
            )
        histogram = cls(counts.shape[0], linear_bins)
        if histogram.bins != counts.shape[1]:
            raise ValueError(f"{path}: {counts.shape[1]} bins, but {linear_bins} linear bins make {histogram.bins}")
        histogram._flat = torch.from_numpy(counts.astype(np.int64).reshape(-1))
        return histogram


def _top_portion_value(counts: np.ndarray, portion: float, histogram: ConfidenceHistogram) -> float:
    """Lower bin edge of the ⌊n·portion⌋-th largest value of one 1-D histogram (1.0 when that is 0)."""
    kept = int(np.floor(int(counts.sum()) * portion))
    if kept <= 0:
        return UNLABELLED_THRESHOLD
    from_top = np.cumsum(counts[::-1])
    bin_from_top = int(np.searchsorted(from_top, kept))  # first bin where the running count reaches `kept`
    return histogram.lower_edge(histogram.bins - 1 - bin_from_top)


@dataclass(frozen=True)
class ClassThresholds:
    """t_c per class (the paper's k_c = -log t_c), with what produced them."""

    policy: str
    portion: float
    thresholds: np.ndarray  # (C,) float64
    class_pixels: np.ndarray  # (C,) int64
    floor: float  # the smallest non-zero threshold the bins give (labels divide by max(t_c, floor))
    resolution: float  # v_c - t_c <= min(resolution, relative_resolution * v_c), v_c the exact value
    relative_resolution: float


def class_thresholds(histogram: ConfidenceHistogram, portion: float, policy: str) -> ClassThresholds:
    """The per-class thresholds for target portion ``portion`` under ``policy`` (§4.4)."""
    if policy not in POLICIES:
        raise ValueError(f"unknown threshold policy {policy!r}; valid: {', '.join(POLICIES)}")
    if not 0.0 <= portion <= 1.0:
        raise ValueError(f"target portion must lie in [0, 1], got {portion}")
    if policy == "cb":
        values = [_top_portion_value(row, portion, histogram) for row in histogram.counts]
    else:
        common = _top_portion_value(histogram.counts.sum(axis=0), portion, histogram)
        values = [common] * histogram.num_classes
    return ClassThresholds(
        policy=policy,
        portion=portion,
        thresholds=np.asarray(values, dtype=np.float64),
        class_pixels=histogram.class_pixels,
        floor=histogram.lower_edge(1),
        resolution=1.0 / histogram.linear_bins,
        relative_resolution=RELATIVE_RESOLUTION,
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
