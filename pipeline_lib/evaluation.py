"""Evaluation on the target validation split: full-resolution predictions, one confusion matrix.

Logits are upsampled to the ground-truth resolution (2048×1024 on Cityscapes) before the argmax,
never the labels downsampled (``shared/spec/datasets_eval.md`` §6.1). Multi-scale and flip testing
(CBST/MLSL's ``--test-scales``/``--test-flipping``) average the softmax of each view.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from pipeline_lib.data.image_io import read_index_label, read_rgb
from pipeline_lib.data.labels import TRAIN_CLASSES, colorize
from pipeline_lib.data.transforms import normalize
from pipeline_lib.losses import upsample_logits
from pipeline_lib.metrics import ConfusionMatrix
from pipeline_lib.progress import Progress

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvaluationConfig:
    input_size: tuple[int, int] | None = None  # (width, height) the network sees; None = native
    scales: tuple[float, ...] = (1.0,)
    flip: bool = False
    num_visualizations: int = 4
    save_label_ids: bool = False


@dataclass(frozen=True)
class Prediction:
    name: str
    image: np.ndarray  # H×W×3 uint8 as read
    prediction: np.ndarray  # H×W uint8 train IDs at label resolution
    label: np.ndarray  # H×W uint8 train IDs


def _scaled_size(size_wh: tuple[int, int], scale: float) -> tuple[int, int]:
    return max(8, round(size_wh[1] * scale)), max(8, round(size_wh[0] * scale))


@torch.no_grad()
def predict_probabilities(
    model: nn.Module, image: torch.Tensor, out_hw: tuple[int, int], input_wh: tuple[int, int], cfg: EvaluationConfig
) -> torch.Tensor:
    """Softmax averaged over scales (and flips) at ``out_hw``; ``image`` is one normalised (1,3,H,W) tensor."""
    total = None
    views = 0
    for scale in cfg.scales:
        scaled = F.interpolate(image, size=_scaled_size(input_wh, scale), mode="bilinear", align_corners=False)
        flips = (False, True) if cfg.flip else (False,)
        for flip in flips:
            view = scaled.flip(-1) if flip else scaled
            logits = upsample_logits(model(view)["out"].float(), out_hw)
            probs = logits.softmax(dim=1)
            probs = probs.flip(-1) if flip else probs
            total = probs if total is None else total + probs
            views += 1
    assert total is not None
    return total / views


def predict_split(
    model: nn.Module, file_list: pd.DataFrame, convention: str, cfg: EvaluationConfig, device: torch.device
) -> Iterator[Prediction]:
    """Predict every labelled image of a ``name,image,label`` file list, printing progress."""
    model.eval()
    progress = Progress("evaluated", len(file_list))
    for row in file_list.itertuples(index=False):
        rgb = read_rgb(row.image)
        label = read_index_label(row.label)
        tensor = torch.from_numpy(rgb).permute(2, 0, 1).float()
        tensor = normalize(tensor, convention).unsqueeze(0).to(device)
        input_wh = cfg.input_size or (rgb.shape[1], rgb.shape[0])
        probs = predict_probabilities(model, tensor, label.shape, input_wh, cfg)
        prediction = probs.argmax(dim=1)[0].to(torch.uint8).cpu().numpy()
        progress.advance()
        yield Prediction(row.name, rgb, prediction, label)


def evaluate_split(
    model: nn.Module,
    file_list: pd.DataFrame,
    convention: str,
    cfg: EvaluationConfig,
    device: torch.device,
    on_prediction: Callable[[Prediction], None] | None = None,
) -> tuple[np.ndarray, list[Prediction]]:
    """Confusion matrix over the whole split, plus the first ``num_visualizations`` predictions.

    ``on_prediction`` sees every prediction as it is made (e.g. to write label-ID PNGs) without the
    split's predictions ever being held in memory together.
    """
    confusion = ConfusionMatrix(len(TRAIN_CLASSES))
    kept: list[Prediction] = []
    for item in predict_split(model, file_list, convention, cfg, device):
        confusion.update(torch.from_numpy(item.prediction), torch.from_numpy(item.label))
        if on_prediction is not None:
            on_prediction(item)
        if len(kept) < cfg.num_visualizations:
            kept.append(item)
    return confusion.matrix.numpy(), kept


def visualization_panel(item: Prediction) -> np.ndarray:
    """image | ground truth | prediction, side by side in the Cityscapes palette (image resized to label size)."""
    height, width = item.label.shape
    image = np.asarray(Image.fromarray(item.image).resize((width, height), Image.BILINEAR))
    return np.concatenate([image, colorize(item.label), colorize(item.prediction)], axis=1)


def per_class_table(scores: dict) -> pd.DataFrame:
    return pd.DataFrame({"class": list(scores["per_class"]), "iou": list(scores["per_class"].values())})


def label_id_name(name: str) -> str:
    """File name the official evaluator pairs with ``<name>_gtFine_labelIds.png``."""
    return f"{Path(name).name}_leftImg8bit.png"
