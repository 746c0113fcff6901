"""Our label-ID PNG scoring (the fast path of bench case ``evaluate``) counts exactly as cityscapesScripts."""

import numpy as np
import pandas as pd
import pytest

from pipeline_lib.data import image_io
from pipeline_lib.evaluation import label_id_iou, score_label_id_pngs
from pipeline_lib.official_eval import pair_predictions, run_official_evaluator

pytest.importorskip("cityscapesscripts", reason="install udaflow[test] for the official evaluator")


def test_label_id_scores_match_the_official_evaluator_including_void_predictions(tmp_path):
    rng = np.random.default_rng(1)
    names = [f"{city}_{i:06d}_000019" for i, city in enumerate(["frankfurt", "lindau", "munster"])]
    for name in names:
        truth = np.kron(rng.integers(0, 34, (8, 16)), np.ones((8, 8), dtype=np.int64)).astype(np.uint8)
        prediction = truth.copy()
        noisy = rng.random(truth.shape) < 0.4
        prediction[noisy] = rng.integers(0, 34, int(noisy.sum()))  # void IDs (0-6, 9, 10, ...) included
        image_io.write_label(tmp_path / "gtFine" / "val" / name.split("_")[0] / f"{name}_gtFine_labelIds.png", truth)
        image_io.write_label(tmp_path / "pred" / f"{name}_leftImg8bit.png", prediction)
    predictions, truths = pair_predictions(pd.DataFrame({"name": names}), tmp_path, tmp_path / "pred")
    official = run_official_evaluator(predictions, truths)
    matrix = score_label_id_pngs(predictions, truths, workers=2)
    assert matrix.shape == (19, 20) and matrix[:, 19].sum() > 0  # some valid pixels were predicted void
    ours = label_id_iou(matrix)
    assert np.nanmean(ours) == pytest.approx(official["averageScoreClasses"], abs=1e-9)
    assert ours[0] == pytest.approx(official["classScores"]["road"], abs=1e-9)


def test_non_cityscapes_ids_are_refused(tmp_path):
    image_io.write_label(tmp_path / "p.png", np.full((4, 4), 40, np.uint8))
    image_io.write_label(tmp_path / "g.png", np.full((4, 4), 7, np.uint8))
    with pytest.raises(ValueError, match=r"label IDs \[40\]"):
        score_label_id_pngs([str(tmp_path / "p.png")], [str(tmp_path / "g.png")])
