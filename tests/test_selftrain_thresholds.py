"""Streaming histogram thresholds equal the reference's sort-everything thresholds up to one bin,
a bin bounded relative to the confidence, so prior-weighted CBST-SP labels agree with CBST's sort."""

import numpy as np
import pytest
import torch

from pipeline_lib.selftrain.pseudo_labels import assign_labels
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
    # within one bin: no wider than 1/bins nor than relative_resolution of the value
    bound = np.minimum(1.0 / bins, result.relative_resolution * exact[predicted])
    assert np.all(exact[predicted] - result.thresholds[predicted] < bound * (1 + 1e-9))
    if policy == "cb":
        assert result.thresholds[4] == UNLABELLED_THRESHOLD  # never predicted: never labelled (§4.4)
    assert (result.resolution, result.relative_resolution) == (1.0 / bins, 5e-4)


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
    bins = histogram.bin_index(torch.tensor([0.7, 0.9])).tolist()
    assert histogram.counts[0, bins[0]] == 1 and histogram.counts[1, bins[1]] == 1 and histogram.counts.sum() == 2
    assert histogram.lower_edge(bins[0]) <= 0.7 < histogram.lower_edge(bins[0] + 1)


def test_merge_save_load_round_trip(tmp_path):
    a, b = ConfidenceHistogram(3, 20), ConfidenceHistogram(3, 20)
    a.add(torch.tensor([0, 1]), torch.tensor([0.5, 1.0]))
    b.add(torch.tensor([2]), torch.tensor([0.0]))
    a.merge(b)
    a.save(tmp_path / "h.npz")
    loaded = ConfidenceHistogram.load(tmp_path / "h.npz")
    assert loaded.counts.tolist() == a.counts.tolist()
    assert loaded.counts[1, -1] == 1  # a confidence of exactly 1 falls in the top bin
    with pytest.raises(ValueError, match="cannot merge"):
        a.merge(ConfidenceHistogram(3, 10))


def test_memory_does_not_grow_with_pixels():
    histogram = ConfidenceHistogram(NUM_CLASSES, 1000)
    before = histogram.counts.nbytes
    for seed in range(3):
        classes, confidences = random_pixels(seed, 100_000)
        histogram.add(torch.from_numpy(classes), torch.from_numpy(confidences))
    assert histogram.counts.nbytes == before == NUM_CLASSES * histogram.bins * 8
    assert histogram.bins == int(1000 + np.log(1e8) / 5e-4) + 1  # the linear bins plus ln(1e8) / 5e-4


def test_unknown_policy_is_named():
    with pytest.raises(ValueError, match="unknown threshold policy 'median'"):
        class_thresholds(ConfidenceHistogram(2, 10), 0.2, "median")


def prior_weighted_maps(seed: int, images: int = 6, classes: int = 19, size=(96, 192)):
    """Random confident softmax maps times a random spatial prior whose class levels span four decades
    (1 ... 1e-4), as CBST-SP scores them: the argmax confidences of rare classes fall to ~1e-4, where
    equal [0, 1] bins were 2.8 % coarse."""
    gen = torch.Generator().manual_seed(seed)
    levels = torch.logspace(0, -4, classes)[:, None, None]
    for _ in range(images):
        probs = (torch.randn(classes, *size, generator=gen) * 8).softmax(dim=0)
        yield levels * torch.rand(classes, *size, generator=gen) * probs


def test_prior_weighted_labels_agree_with_cbsts_sort_on_9999_of_10000_pixels():
    """Issue 16 point 3: thresholds from the 1e5-bin histogram and from sorting every pixel (CBST's
    ``cls_thresh`` without its 1/4 subsample) give the same pseudo-labels on >= 99.99 % of pixels."""
    maps = list(prior_weighted_maps(0))
    histogram = ConfidenceHistogram(19, 100_000)
    for scores in maps:
        histogram.update(scores)
    confidence, prediction = torch.stack(maps).max(dim=1)
    for portion in (0.2, 0.5):
        ours = class_thresholds(histogram, portion, "cb")
        assert (ours.thresholds < 1e-3).sum() >= 3  # prior-weighted rare classes: thresholds near 1e-4
        exact = sorted_thresholds(prediction.flatten().numpy(), confidence.flatten().numpy(), 19, portion, "cb")
        labels = torch.stack([assign_labels(s, ours.thresholds, ours.floor) for s in maps])
        reference = torch.stack([assign_labels(s, exact, ours.floor) for s in maps])
        agreement = float((labels == reference).double().mean())
        assert agreement >= 0.9999, (portion, agreement)


def test_histograms_from_the_equal_bin_format_are_refused(tmp_path):
    np.savez_compressed(tmp_path / "old.npz", counts=np.zeros((3, 10), dtype=np.int64))
    with pytest.raises(ValueError, match=r"old.npz: a confidence histogram with equal \[0, 1\] bins"):
        ConfidenceHistogram.load(tmp_path / "old.npz")
