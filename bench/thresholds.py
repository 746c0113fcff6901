"""Benchmark: streaming-histogram class thresholds vs the reference's sort-everything approach.

CBST (``shared/spec/cbst_mlsl.md`` §4.3-4.4, §14) pools the argmax confidences of every pixel of the
target set per class and sorts them. Here that reference is emulated generously: per-class NumPy
arrays (not Python lists) sorted with ``np.sort``; ours streams each image into a per-class
histogram (``pipeline_lib.selftrain.thresholds``). Synthetic (class, confidence) maps stand in for
predictions: 2975 images (Cityscapes train) at the demo's stride-8 size 128x256 and, subsampled to
``--full-images`` images, at the full 1024x2048. Times exclude generating the synthetic maps.
Each approach runs in its own process, so peak memory is the process's peak RSS above its RSS after imports.

    python bench/thresholds.py [--full-images 24] [--out bench/results/thresholds_cpu.json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import platform
import resource
import time
from pathlib import Path

import numpy as np

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


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _histogram(images: int, pixels: int, queue) -> None:
    import torch

    from pipeline_lib.selftrain.thresholds import ConfidenceHistogram, class_thresholds

    torch.set_num_threads(1)
    baseline = _rss_mb()
    seconds = 0.0
    histogram = ConfidenceHistogram(NUM_CLASSES, BINS)
    for index in range(images):
        classes, confidences = synthetic_image(index, pixels)
        started = time.perf_counter()
        histogram.add(torch.from_numpy(classes), torch.from_numpy(confidences))
        seconds += time.perf_counter() - started
    started = time.perf_counter()
    thresholds = class_thresholds(histogram, PORTION, "cb").thresholds
    queue.put({"seconds": seconds + time.perf_counter() - started, "peak_mb": _rss_mb() - baseline,
               "thresholds": thresholds.tolist()})


def _sort_everything(images: int, pixels: int, queue) -> None:
    baseline = _rss_mb()
    seconds = 0.0
    pooled: list[list[np.ndarray]] = [[] for _ in range(NUM_CLASSES)]
    for index in range(images):
        classes, confidences = synthetic_image(index, pixels)
        started = time.perf_counter()
        for c in range(NUM_CLASSES):
            pooled[c].append(confidences[classes == c])
        seconds += time.perf_counter() - started
    started = time.perf_counter()
    thresholds = []
    for c in range(NUM_CLASSES):
        values = np.sort(np.concatenate(pooled[c]))[::-1]
        pooled[c] = []
        kept = int(len(values) * PORTION)
        thresholds.append(float(values[kept - 1]) if kept > 0 else 1.0)
    queue.put({"seconds": seconds + time.perf_counter() - started, "peak_mb": _rss_mb() - baseline,
               "thresholds": thresholds})


def measure(target, images: int, pixels: int) -> dict:
    queue: mp.Queue = mp.get_context("fork").Queue()
    process = mp.get_context("fork").Process(target=target, args=(images, pixels, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def compare(label: str, images: int, height: int, width: int, represents: int) -> dict:
    ours = measure(_histogram, images, height * width)
    reference = measure(_sort_everything, images, height * width)
    error = float(np.max(np.abs(np.subtract(reference["thresholds"], ours["thresholds"]))))
    row = {
        "case": label,
        "images": images,
        "represents_images": represents,
        "pixels": images * height * width,
        "histogram_seconds": round(ours["seconds"], 3),
        "sort_seconds": round(reference["seconds"], 3),
        "time_ratio_sort_over_histogram": round(reference["seconds"] / ours["seconds"], 2),
        "histogram_peak_mb": round(ours["peak_mb"], 1),
        "sort_peak_mb": round(reference["peak_mb"], 1),
        "memory_ratio_sort_over_histogram": round(reference["peak_mb"] / max(ours["peak_mb"], 1.0), 1),
        "max_threshold_difference": error,
        "bin_resolution": 1.0 / BINS,
    }
    print(
        f"{label}: {row['pixels']:,} px | histogram {row['histogram_seconds']} s, {row['histogram_peak_mb']} MB | "
        f"sort {row['sort_seconds']} s, {row['sort_peak_mb']} MB | time x{row['time_ratio_sort_over_histogram']}, "
        f"memory x{row['memory_ratio_sort_over_histogram']} | max |t diff| {error:.2e} (bin {1.0 / BINS:.0e})",
        flush=True,
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full-images", type=int, default=24, help="full-resolution images actually generated")
    parser.add_argument("--demo-images", type=int, default=2975)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "thresholds_cpu.json")
    args = parser.parse_args()
    rows = [
        compare("demo resolution 128x256 (stride-8 of Cityscapes)", args.demo_images, 128, 256, 2975),
        compare("full resolution 1024x2048, subsampled images", args.full_images, 1024, 2048, 2975),
    ]
    payload = {
        "what": "cb thresholds at portion 0.2: streaming histograms vs per-class np.sort of all confidences",
        "machine": {"platform": platform.platform(), "processor": platform.processor(), "cpu_threads": 1},
        "note": "the sort side is a NumPy emulation; CBST sorts Python lists of every 4th pixel (slower still)."
        " Sort memory grows linearly with pixels (full Cityscapes train: x2975/images of the full-res row);"
        " histogram memory is 19 x bins x 8 B whatever the pixel count.",
        "results": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
