"""Evaluation on the target validation split: full-resolution predictions, one confusion matrix.

Logits are upsampled to the ground-truth resolution (2048×1024 on Cityscapes) before the argmax,
never the labels downsampled (``shared/spec/datasets_eval.md`` §6.1). Multi-scale and flip testing
(CBST/MLSL's ``--test-scales``/``--test-flipping``) average the softmax of each view.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset

from pipeline_lib.async_writer import BackgroundWriter
from pipeline_lib.data.image_io import read_index_label, read_rgb, read_train_id_label
from pipeline_lib.data.labels import (
    CLASSES_16,
    TRAIN_CLASSES,
    cityscapes_to_train_id_lut,
    colorize,
    output_to_train_id_lut,
    train_id_to_output_lut,
)
from pipeline_lib.data.transforms import normalize
from pipeline_lib.engine.performance import ComputeSettings, autocast, memory_format, to_device
from pipeline_lib.losses import upsample_logits
from pipeline_lib.metrics import ConfusionMatrix
from pipeline_lib.progress import Progress

log = logging.getLogger(__name__)


#: How an image is resized to ``input_size``: ``bilinear`` (torch, no antialiasing) or ``pil_bicubic``
#: (PIL's bicubic on the uint8 image before normalisation, AdaptSegNet's ``evaluate_cityscapes.py``).
RESIZE_FILTERS: tuple[str, ...] = ("bilinear", "pil_bicubic")


@dataclass(frozen=True)
class EvaluationConfig:
    input_size: tuple[int, int] | None = None  # (width, height) the network sees; None = native
    resize: str = "bilinear"  # one of RESIZE_FILTERS; applies only with input_size
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


def require_finite(probs: torch.Tensor, image: str) -> None:
    """Stop at the first frame whose class probabilities hold NaN or inf: a diverged model would
    otherwise be scored, thresholded or counted as if its argmax meant something."""
    if not bool(torch.isfinite(probs).all()):
        raise ValueError(
            f"{image}: the model's class probabilities are not finite (NaN or inf): its weights diverged "
            "(the training job's train_log.csv shows its loss)"
        )


@torch.no_grad()
def predict_probabilities(
    model: nn.Module, image: torch.Tensor, out_hw: tuple[int, int], input_wh: tuple[int, int], cfg: EvaluationConfig
) -> torch.Tensor:
    """Softmax averaged over scales (and flips) at ``out_hw``; ``image`` is one normalised (1,3,H,W) tensor.

    On a GPU each scale's image and its mirror go through the network as one batch of two (one launch
    sequence instead of two); on the CPU one at a time, where a batch of two only doubles the
    activations' memory traffic (measured 11 % slower, ``python -m bench predict``). The views are
    summed in the order of the per-view loop. Logits are cast to float32 before upsampling, so
    autocast around this call only changes the network.
    """
    total = None
    views = 0
    for scale in cfg.scales:
        scaled = F.interpolate(image, size=_scaled_size(input_wh, scale), mode="bilinear", align_corners=False)
        inputs = [scaled, scaled.flip(-1)] if cfg.flip else [scaled]
        batches = [torch.cat(inputs)] if image.device.type == "cuda" else inputs
        probs = torch.cat([upsample_logits(model(batch)["out"].float(), out_hw).softmax(dim=1) for batch in batches])
        for view in (probs[:1], probs[1:].flip(-1)) if cfg.flip else (probs,):
            total = view if total is None else total + view
            views += 1
    assert total is not None
    return total / views


class _LabelledImages(Dataset):
    """(index, uint8 (3, H, W) image, uint8 (H, W) label) per row, decoded ahead in loader workers.

    ``pil_bicubic_wh`` resizes each image there with PIL's bicubic filter (AdaptSegNet's evaluation).
    """

    def __init__(self, file_list: pd.DataFrame, pil_bicubic_wh: tuple[int, int] | None = None) -> None:
        self.paths = list(zip(file_list["image"], file_list["label"], strict=True))  # plain strings: picklable
        self.pil_bicubic_wh = pil_bicubic_wh

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[int, torch.Tensor, torch.Tensor]:
        image, label = self.paths[index]
        pixels = read_rgb(image)
        if self.pil_bicubic_wh is not None:
            pixels = np.array(Image.fromarray(pixels).resize(self.pil_bicubic_wh, Image.BICUBIC))
        rgb = torch.from_numpy(pixels).permute(2, 0, 1)
        return index, rgb, torch.from_numpy(read_train_id_label(label))


def predict_split(
    model: nn.Module,
    file_list: pd.DataFrame,
    convention: str,
    cfg: EvaluationConfig,
    device: torch.device,
    compute: ComputeSettings | None = None,
) -> Iterator[DevicePrediction]:
    """Predict every labelled image of a ``name,image,label`` file list, printing progress.

    Images are decoded ahead by ``compute.num_workers`` loader workers into pinned memory and copied
    as uint8 (a quarter of the float bytes); predictions stay on the device.
    """
    if cfg.resize not in RESIZE_FILTERS:
        raise ValueError(f"unknown evaluation resize {cfg.resize!r}; valid: {', '.join(RESIZE_FILTERS)}")
    compute = (compute or ComputeSettings(num_workers=0)).on(device)
    model.eval()
    pil_bicubic_wh = cfg.input_size if cfg.resize == "pil_bicubic" else None
    loader = DataLoader(
        _LabelledImages(file_list, pil_bicubic_wh),
        batch_size=None,
        num_workers=compute.num_workers,
        pin_memory=compute.pin_memory,
    )
    progress = Progress("evaluated", len(file_list))
    for index, rgb, label in loader:
        image = to_device(rgb, device).float()
        image = normalize(image, convention).unsqueeze(0).contiguous(memory_format=memory_format(compute.channels_last))
        input_wh = cfg.input_size or (rgb.shape[2], rgb.shape[1])
        with autocast(device, compute.amp):
            probs = predict_probabilities(model, image, tuple(label.shape), input_wh, cfg)
        require_finite(probs, file_list.iloc[index]["image"])
        prediction = probs.argmax(dim=1)[0].to(torch.uint8)
        label = to_device(label, device)
        if probs.shape[1] == len(CLASSES_16):
            prediction, label = compact16_as_train_ids(prediction, label)
        progress.advance()
        yield DevicePrediction(file_list.iloc[index]["name"], rgb, prediction, label)


def compact16_as_train_ids(prediction: torch.Tensor, label: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A 16-output network's argmax as train IDs, and the ground truth under the compact16 protocol
    (CBST, ProDA/CPSL, ``datasets_eval.md`` §3.5): terrain, truck and train, which such a network cannot
    predict, are ignored rather than counted as its false positives."""
    to_train_ids = output_to_train_id_lut(len(CLASSES_16))
    # Ground truth through the outputs and back: a train ID without an output becomes ignore.
    kept_ids = to_train_ids[train_id_to_output_lut(len(CLASSES_16))]
    prediction = torch.from_numpy(to_train_ids).to(prediction.device)[prediction.long()]
    return prediction, torch.from_numpy(kept_ids).to(label.device)[label.long()].to(label.dtype)


@dataclass(frozen=True)
class DevicePrediction:
    """One image's prediction while it is still on the device; ``on_host`` copies it back."""

    name: str
    image: torch.Tensor  # (3, H, W) uint8 on the host, as read
    prediction: torch.Tensor  # (H, W) uint8 train IDs on the device
    label: torch.Tensor  # (H, W) uint8 train IDs on the device

    def on_host(self) -> Prediction:
        image = np.ascontiguousarray(self.image.permute(1, 2, 0).numpy())
        return Prediction(self.name, image, self.prediction.cpu().numpy(), self.label.cpu().numpy())


def evaluate_split(
    model: nn.Module,
    file_list: pd.DataFrame,
    convention: str,
    cfg: EvaluationConfig,
    device: torch.device,
    on_prediction: Callable[[Prediction], None] | None = None,
    compute: ComputeSettings | None = None,
) -> tuple[np.ndarray, list[Prediction]]:
    """Confusion matrix over the whole split, plus the first ``num_visualizations`` predictions.

    The matrix accumulates on the device; ``on_prediction`` sees every prediction (e.g. to write
    label-ID PNGs) in a background writer thread, which also does the copy back to the host, so the
    device never waits for PNG encoding and the split's predictions are never in memory together.
    """
    confusion = ConfusionMatrix(len(TRAIN_CLASSES), device=device)
    kept: list[Prediction] = []
    with BackgroundWriter() as writer:
        for item in predict_split(model, file_list, convention, cfg, device, compute):
            confusion.update(item.prediction, item.label)
            if on_prediction is not None:
                writer.submit(lambda item=item: on_prediction(item.on_host()))
            if len(kept) < cfg.num_visualizations:
                kept.append(item.on_host())
    return confusion.matrix.numpy(), kept


def visualization_panel(item: Prediction) -> np.ndarray:
    """image | ground truth | prediction, side by side in the Cityscapes palette (image resized to label size)."""
    height, width = item.label.shape
    image = np.asarray(Image.fromarray(item.image).resize((width, height), Image.BILINEAR))
    return np.concatenate([image, colorize(item.label), colorize(item.prediction)], axis=1)


def per_class_table(scores: dict) -> pd.DataFrame:
    return pd.DataFrame({"class": list(scores["per_class"]), "iou": list(scores["per_class"].values())})


def score_label_id_pngs(predictions: list[str], ground_truths: list[str], workers: int = 2) -> np.ndarray:
    """(19, 20) train-ID confusion of label-ID prediction PNGs against gtFine ``labelIds``, counted as the
    official cityscapesScripts evaluator counts (``shared/spec/datasets_eval.md`` §4.2); see ``label_id_iou``.

    Rows are ground-truth train IDs (void ground truth is skipped), columns predicted train IDs and a
    last column for predictions of a void label ID, which the official tool counts as false negatives
    only. Each pair becomes one 256 x 256 histogram of (ground-truth ID, predicted ID) bytes, decoded
    and counted in ``workers`` threads (OpenCV decodes and counts outside the GIL); the label
    tables are applied once to the summed histogram instead of to every pixel.
    """
    if len(predictions) != len(ground_truths):
        raise ValueError(f"{len(predictions)} predictions but {len(ground_truths)} ground truths")

    def joint(pair: tuple[str, str]) -> np.ndarray:
        prediction, truth = (_read_label_ids(path) for path in pair)
        if prediction.shape != truth.shape:
            raise ValueError(f"{pair[0]}: prediction is {prediction.shape} (H, W), {pair[1]} is {truth.shape}")
        # OpenCV's 2-D histogram of two byte images: exact (float32 counts below 2**24 per image) and
        # about twice as fast as bincount of combined codes.
        histogram = cv2.calcHist([truth, prediction], [0, 1], None, [256, 256], [0, 256, 0, 256])
        return histogram.astype(np.int64).ravel()

    with ThreadPoolExecutor(max(1, workers)) as pool:
        counts = sum(pool.map(joint, zip(predictions, ground_truths, strict=True)), np.zeros(256 * 256, np.int64))
    counts = counts.reshape(256, 256)
    lut = cityscapes_to_train_id_lut()
    unknown = np.flatnonzero((lut < 0) & ((counts.sum(axis=1) > 0) | (counts.sum(axis=0) > 0)))
    if unknown.size:
        raise ValueError(f"label IDs {unknown.tolist()} are not Cityscapes label IDs (expected labelIds PNGs)")
    classes = len(TRAIN_CLASSES)
    rows = np.zeros((classes, 256), np.int64)
    columns = np.zeros((256, classes + 1), np.int64)
    for label_id, train_id in enumerate(lut):
        if 0 <= train_id < classes:
            rows[train_id, label_id] = 1
        columns[label_id, train_id if 0 <= train_id < classes else classes] = 1
    return rows @ counts @ columns


def _read_label_ids(path: str) -> np.ndarray:
    """An 8-bit greyscale PNG through OpenCV (faster than Pillow); anything else through ``read_index_label``,
    which reads palette PNGs as indices and names the file when the format is wrong."""
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is not None and raw.ndim == 2 and raw.dtype == np.uint8:
        return raw
    return read_index_label(path)


def label_id_iou(matrix: np.ndarray) -> np.ndarray:
    """Per-class IoU from ``score_label_id_pngs``'s matrix: void predictions are false negatives only."""
    matrix = np.asarray(matrix, dtype=np.float64)
    classes = matrix.shape[0]
    tp = np.diag(matrix[:, :classes])
    union = matrix.sum(axis=1) + matrix[:, :classes].sum(axis=0) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, tp / union, np.nan)


def label_id_name(name: str) -> str:
    """File name the official evaluator pairs with ``<name>_gtFine_labelIds.png``."""
    return f"{Path(name).name}_leftImg8bit.png"
