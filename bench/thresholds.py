"""Case ``thresholds``: streaming-histogram class thresholds vs the reference's sort-everything approach.

CBST (``shared/spec/cbst_mlsl.md`` §4.3-4.4, §14) pools the argmax confidences of every pixel of the
target set per class and sorts them. Here that reference is emulated generously: per-class NumPy
arrays (not Python lists) sorted with ``np.sort``; ours streams each image into a per-class
histogram (``pipeline_lib.selftrain.thresholds``). Synthetic (class, confidence) maps stand in for
predictions: 2975 images (Cityscapes train) at the stride-8 size 128x256 that the prediction store
keeps and, subsampled, at the full 1024x2048. Times exclude generating the synthetic maps. Each
approach runs in its own process; its peak memory is the sampled peak RSS of the measured block minus
that of a process that only generates the same synthetic maps (the inputs cost the same to both),
floored at 1 MB.
The two must give the same labels: thresholds equal up to the 1e-5 bin width.
"""

from __future__ import annotations

import time

import numpy as np

from bench.common import PeakRss, isolated

NUM_CLASSES = 19
PORTION = 0.2
BINS = 100_000
CLASS_SHARE = np.array([0.33, 0.09, 0.2, 0.02, 0.01, 0.015, 0.002, 0.006, 0.14, 0.01, 0.035, 0.012, 0.002,
                        0.06, 0.003, 0.003, 0.002, 0.001, 0.004])


def synthetic_image(seed: int, pixels: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    classes = rng.choice(NUM_CLASSES, size=pixels, p=CLASS_SHARE / CLASS_SHARE.sum()).astype(np.int64)
    confidences = rng.beta(4.0, 1.5, size=pixels).astype(np.float32)
    return classes, confidences


def _same_imports() -> None:
    """All three processes load the same libraries, so their allocators start from the same state."""
    import torch

    import pipeline_lib.selftrain.thresholds  # noqa: F401

    torch.set_num_threads(1)


def _histogram(images: int, pixels: int) -> dict:
    import torch

    from pipeline_lib.selftrain.thresholds import ConfidenceHistogram, class_thresholds

    _same_imports()
    seconds = 0.0
    with PeakRss() as memory:
        histogram = ConfidenceHistogram(NUM_CLASSES, BINS)
        for index in range(images):
            classes, confidences = synthetic_image(index, pixels)
            started = time.perf_counter()
            histogram.add(torch.from_numpy(classes), torch.from_numpy(confidences))
            seconds += time.perf_counter() - started
            del classes, confidences  # as the prediction job does: one image's maps alive at a time
        started = time.perf_counter()
        thresholds = class_thresholds(histogram, PORTION, "cb").thresholds
        seconds += time.perf_counter() - started
    return {"seconds": seconds, "peak_mb": memory.peak_mb, "thresholds": thresholds.tolist()}


def _sort_everything(images: int, pixels: int) -> dict:
    _same_imports()
    seconds = 0.0
    with PeakRss() as memory:
        pooled: list[list[np.ndarray]] = [[] for _ in range(NUM_CLASSES)]
        for index in range(images):
            classes, confidences = synthetic_image(index, pixels)
            started = time.perf_counter()
            for c in range(NUM_CLASSES):
                pooled[c].append(confidences[classes == c])
            seconds += time.perf_counter() - started
            del classes, confidences
        started = time.perf_counter()
        thresholds = []
        for c in range(NUM_CLASSES):
            values = np.sort(np.concatenate(pooled[c]))[::-1]
            pooled[c] = []
            kept = int(len(values) * PORTION)
            thresholds.append(float(values[kept - 1]) if kept > 0 else 1.0)
        seconds += time.perf_counter() - started
    return {"seconds": seconds, "peak_mb": memory.peak_mb, "thresholds": thresholds}


def _inputs_only(images: int, pixels: int) -> dict:
    """What producing the synthetic maps alone costs: subtracted from both sides' peaks."""
    _same_imports()
    with PeakRss() as memory:
        for index in range(images):
            synthetic_image(index, pixels)
    return {"peak_mb": memory.peak_mb}


def compare(label: str, images: int, height: int, width: int, represents: int) -> dict:
    ours = isolated(_histogram, images, height * width)
    reference = isolated(_sort_everything, images, height * width)
    inputs = isolated(_inputs_only, images, height * width)["peak_mb"]
    ours_mb, reference_mb = max(ours["peak_mb"] - inputs, 1.0), max(reference["peak_mb"] - inputs, 1.0)
    error = float(np.max(np.abs(np.subtract(reference["thresholds"], ours["thresholds"]))))
    row = {
        "case": label,
        "images": images,
        "represents_images": represents,
        "pixels": images * height * width,
        "histogram_seconds": round(ours["seconds"], 3),
        "sort_seconds": round(reference["seconds"], 3),
        "time_ratio_sort_over_histogram": round(reference["seconds"] / ours["seconds"], 2),
        "inputs_only_peak_mb": round(inputs, 1),
        "histogram_peak_mb": round(ours_mb, 1),
        "sort_peak_mb": round(reference_mb, 1),
        "memory_ratio_sort_over_histogram": round(reference_mb / ours_mb, 1),
        "sort_peak_mb_extrapolated_to_represented_images": round(reference_mb * represents / images, 1),
        "max_threshold_difference": error,
        "bin_resolution": 1.0 / BINS,
    }
    if error > 1.0 / BINS:
        raise AssertionError(f"{label}: thresholds differ by {error:.2e}, more than one bin ({1.0 / BINS:.0e})")
    return row


def run(quick: bool) -> tuple[dict, list[dict]]:
    """2975 stride-8 maps (Cityscapes train) and 120 full-resolution ones (quick: 300 and 4)."""
    stride8_images, full_images = (300, 4) if quick else (2975, 120)
    rows = [
        compare(f"{stride8_images} images at 128x256 (stride 8 of Cityscapes)", stride8_images, 128, 256, 2975),
        compare(f"{full_images} images at 1024x2048 (subsample of 2975)", full_images, 1024, 2048, 2975),
    ]
    payload = {
        "what": "cb thresholds at portion 0.2: streaming histograms vs per-class np.sort of all confidences",
        "target": "peak memory >= 5x lower than the sort at Cityscapes-train scale, thresholds equal within one bin",
        "note": "the sort side is a NumPy emulation; CBST sorts Python lists of every 4th pixel (slower still)."
        " Sort memory grows linearly with pixels (full-resolution Cityscapes train: x2975/images of that row);"
        " histogram memory is 19 x bins x 8 B plus one image's temporaries whatever the pixel count.",
        "results": rows,
    }
    return payload, rows


COLUMNS = ["case", "pixels", "histogram_seconds", "sort_seconds", "histogram_peak_mb", "sort_peak_mb",
           "memory_ratio_sort_over_histogram", "sort_peak_mb_extrapolated_to_represented_images",
           "max_threshold_difference"]
