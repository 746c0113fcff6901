"""Streaming histogram thresholds equal the reference's sort-everything thresholds up to one bin."""

import numpy as np
import pytest
import torch

from pipeline_lib.selftrain.thresholds import (
    UNLABELLED_THRESHOLD,
    ConfidenceHistogram,
    class_thresholds,
    sorted_thresholds,
)

NUM_CLASSES = 5


def random_pixels(seed: int, count: int):
    rng = np.random.default_rng(seed)
    classes = rng.choice(NUM_CLASSES - 1, size=count, p=[0.6, 0.25, 0.1, 0.05])  # class 4 never predicted
    confidences = rng.beta(5, 2, size=count).astype(np.float32)
    return classes, confidences


@pytest.mark.parametrize("policy", ["cb", "global"])
@pytest.mark.parametrize("portion", [0.05, 0.2, 0.5, 1.0])
def test_histogram_thresholds_match_sorting_to_one_bin(policy, portion):
    classes, confidences = random_pixels(0, 20_000)
    bins = 1000
    histogram = ConfidenceHistogram(NUM_CLASSES, bins)
    for chunk in np.array_split(np.arange(len(classes)), 7):  # streamed in pieces, like images
        histogram.add(torch.from_numpy(classes[chunk]), torch.from_numpy(confidences[chunk]))
    result = class_thresholds(histogram, portion, policy)
    exact = sorted_thresholds(classes, confidences, NUM_CLASSES, portion, policy)
    predicted = exact != UNLABELLED_THRESHOLD
    assert np.all(result.thresholds[predicted] <= exact[predicted])
    assert np.all(exact[predicted] - result.thresholds[predicted] < 1.0 / bins)
    if policy == "cb":
        assert result.thresholds[4] == UNLABELLED_THRESHOLD  # never predicted: never labelled (§4.4)
    assert result.resolution == 1.0 / bins


def test_cb_keeps_the_portion_of_each_class_and_global_one_threshold():
    classes, confidences = random_pixels(1, 50_000)
    histogram = ConfidenceHistogram(NUM_CLASSES, 100_000)
    histogram.add(torch.from_numpy(classes), torch.from_numpy(confidences))
    cb = class_thresholds(histogram, 0.3, "cb")
    for c in range(NUM_CLASSES - 1):
        kept = np.mean(confidences[classes == c] >= cb.thresholds[c])
        assert kept == pytest.approx(0.3, abs=0.002)
    glob = class_thresholds(histogram, 0.3, "global")
    assert len(set(glob.thresholds.tolist())) == 1
    assert np.mean(confidences >= glob.thresholds[0]) == pytest.approx(0.3, abs=0.002)
    assert cb.class_pixels.tolist() == np.bincount(classes, minlength=NUM_CLASSES).tolist()


def test_update_uses_argmax_and_max_of_scores():
    scores = torch.tensor([[[0.7, 0.1]], [[0.3, 0.9]]])  # (C=2, H=1, W=2)
    histogram = ConfidenceHistogram(2, 10)
    histogram.update(scores)
    assert histogram.counts[0, 7] == 1 and histogram.counts[1, 9] == 1 and histogram.counts.sum() == 2


def test_merge_save_load_round_trip(tmp_path):
    a, b = ConfidenceHistogram(3, 20), ConfidenceHistogram(3, 20)
    a.add(torch.tensor([0, 1]), torch.tensor([0.5, 1.0]))
    b.add(torch.tensor([2]), torch.tensor([0.0]))
    a.merge(b)
    a.save(tmp_path / "h.npz")
    loaded = ConfidenceHistogram.load(tmp_path / "h.npz")
    assert loaded.counts.tolist() == a.counts.tolist()
    assert loaded.counts[1, 19] == 1  # a confidence of exactly 1 falls in the top bin
    with pytest.raises(ValueError, match="cannot merge"):
        a.merge(ConfidenceHistogram(3, 10))


def test_memory_does_not_grow_with_pixels():
    histogram = ConfidenceHistogram(NUM_CLASSES, 1000)
    before = histogram.counts.nbytes
    for seed in range(3):
        classes, confidences = random_pixels(seed, 100_000)
        histogram.add(torch.from_numpy(classes), torch.from_numpy(confidences))
    assert histogram.counts.nbytes == before == NUM_CLASSES * 1000 * 8


def test_unknown_policy_is_named():
    with pytest.raises(ValueError, match="unknown threshold policy 'median'"):
        class_thresholds(ConfidenceHistogram(2, 10), 0.2, "median")
