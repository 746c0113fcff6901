"""End to end: SYNTHIA with each method's reference class protocol (issue 17).

On the tiny config with ``source: synthia`` and the default ``model.num_classes: per_method``: one
CBST-SP round and the CPSL chain to stage 2 train 16-output networks (compact16) from a 16-output
source model (results/source_compact16/), AdaptSegNet a 19-output one scored with the drop-3 means;
the pseudo-labels on disk are train IDs of the 16 classes; each miou.json says its protocol. (The
summary's pairing of each result with the source model of its width: test_summary.py.)
"""

import json

import numpy as np
import pytest
from conftest import run_snakemake, tiny_config

from pipeline_lib.data.image_io import read_train_id_label
from pipeline_lib.data.labels import CLASSES_16, IGNORE_INDEX, TRAIN_CLASSES
from pipeline_lib.models.serialization import load_model

pytestmark = pytest.mark.workflow

COMPACT16 = ("results/source_compact16/miou.json", "results/cbst_sp/round1/miou.json", "results/cpsl/stage2/miou.json")
NINETEEN = ("results/source/miou.json", "results/adaptseg_single/miou.json")


def test_synthia_runs_cbst_and_cpsl_with_16_outputs_and_adaptseg_with_19(workdir):
    config = tiny_config()
    config["source"] = "synthia"
    section = config["self_training"]
    section.update(rounds=1, shards=1)
    section["prediction"]["histogram_bins"] = 1000
    section["training"].update(iterations=4, batch_size=2)
    config["cpsl"].update(batch_size=2)
    config["cpsl"]["warmup"].update(iterations=3)
    config["cpsl"]["stage1"].update(iterations=3, feature_samples=16, queue_length=32)
    config["cpsl"]["distillation"].update(iterations=3)
    config["adaptseg"].update(iterations=3, batch_size=2)
    result = run_snakemake(workdir, *COMPACT16, *NINETEEN, config=config)
    assert result.returncode == 0, result.stdout[-3000:]

    for target in NINETEEN:
        scores = json.loads((workdir / target).read_text())
        assert scores["class_protocol"] == "19" and scores["miou16_variant"] == "drop3", target
        assert scores["provenance"]["model_spec"]["num_classes"] == 19, target
    for target in COMPACT16:
        scores = json.loads((workdir / target).read_text())
        assert scores["class_protocol"] == "compact16", target
        assert scores["provenance"]["model_spec"]["num_classes"] == 16, target
        assert all(scores["per_class"][name] is None for name in ("terrain", "truck", "train")), target
        assert scores["miou"] == scores["miou16"], target
    assert load_model(workdir / "work/cpsl/stage2/model.pt")[1].num_classes == 16

    thresholds = json.loads((workdir / "work/cbst_sp/round1/thresholds.json").read_text())
    assert list(thresholds["thresholds"]) == [TRAIN_CLASSES[i] for i in CLASSES_16]
    labels = sorted((workdir / "work/cbst_sp/round1/pseudo_labels").rglob("*.png"))
    values = set(np.unique(np.concatenate([read_train_id_label(path).ravel() for path in labels])).tolist())
    assert values <= {*CLASSES_16, IGNORE_INDEX}  # train IDs of the 16 classes (the mapping: test_labels.py)
    assert np.load(workdir / "work/spatial_prior/prior.npy").shape[0] == 16  # per output class
