"""A diverged model (NaN or inf outputs) stops prediction at the first frame, naming it; found at real
size, where a randomly initialised ResNet-38 with frozen BN blew up and the threshold histogram failed
with an IndexError of index -2**63 instead."""

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from torch import nn

from pipeline_lib.cpsl.predictions import target_outputs
from pipeline_lib.data.image_io import write_rgb
from pipeline_lib.evaluation import EvaluationConfig, predict_split, require_finite
from pipeline_lib.selftrain.pseudo_labels import PredictionConfig, predict_stride8


class Diverged(nn.Module):
    input_convention = "imagenet"

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        batch, _, height, width = image.shape
        logits = torch.zeros(batch, 19, height // 8, width // 8)
        logits[:, 3] = self.value
        return {"out": logits}


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_evaluation_names_the_first_frame_with_non_finite_probabilities(tmp_path, value):
    write_rgb(tmp_path / "a.png", np.zeros((64, 128, 3), np.uint8))
    Image.fromarray(np.zeros((64, 128), np.uint8)).save(tmp_path / "a_label.png")
    rows = pd.DataFrame({"name": ["a"], "image": [str(tmp_path / "a.png")], "label": [str(tmp_path / "a_label.png")]})
    with pytest.raises(ValueError, match=r"a\.png: the model's class probabilities are not finite"):
        list(predict_split(Diverged(value), rows, "imagenet", EvaluationConfig(), torch.device("cpu")))


def test_self_training_predictions_of_a_diverged_model_are_refused():
    probs = predict_stride8(Diverged(float("nan")), torch.zeros(1, 3, 64, 128), PredictionConfig(),
                            torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="frame.png: .* not finite"):
        require_finite(probs, "frame.png")
    require_finite(predict_stride8(Diverged(50.0), torch.zeros(1, 3, 64, 128), PredictionConfig(),
                                   torch.Generator().manual_seed(0)), "frame.png")  # large but finite: kept


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_cpsl_target_passes_of_a_diverged_model_are_refused(tmp_path, value):
    """Soft labels, prototypes, class distribution and hard labels all read ``target_outputs``."""
    for name in ("a", "b"):
        write_rgb(tmp_path / f"{name}.png", np.zeros((64, 128, 3), np.uint8))
    pd.DataFrame({"name": ["a", "b"], "image": [str(tmp_path / f"{n}.png") for n in "ab"], "label": ["", ""]}).to_csv(
        tmp_path / "targets.csv", index=False)
    with pytest.raises(ValueError, match=r"a\.png: the model's class probabilities are not finite"):
        list(target_outputs(Diverged(value), tmp_path / "targets.csv", torch.device("cpu")))
    assert len(list(target_outputs(Diverged(50.0), tmp_path / "targets.csv", torch.device("cpu")))) == 2
