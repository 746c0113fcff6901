"""The warm-up / teacher passes over the target train images (spec §3, §4, §5): eval mode, no augmentation.

Every pass sees the full image (the reference's 1024x2048, ``noaug``, no shuffle) and keeps the
network outputs at output stride 8, where the soft labels, prototypes and class distribution live;
only the flip-averaged hard labels are upsampled to the image resolution.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch import nn

from pipeline_lib.data.datasets import read_file_list
from pipeline_lib.data.image_io import read_rgb
from pipeline_lib.data.transforms import normalize
from pipeline_lib.evaluation import require_finite
from pipeline_lib.losses import upsample_logits
from pipeline_lib.progress import Progress


@torch.no_grad()
def target_outputs(
    model: nn.Module, file_list: str | Path, device: torch.device
) -> Iterator[tuple[str, tuple[int, int], torch.Tensor, dict[str, torch.Tensor]]]:
    """(name, image size, normalised image (1, 3, H, W), stride-8 outputs) per target image, in list order;
    a diverged model (NaN or inf logits) stops at the first image, naming it, before any store is written."""
    model.eval()
    rows = read_file_list(file_list)
    progress = Progress("predicted target images", len(rows))
    for row in rows.itertuples(index=False):
        rgb = np.asarray(read_rgb(row.image))
        image = normalize(torch.from_numpy(rgb).permute(2, 0, 1).float(), model.input_convention)[None].to(device)
        outputs = {key: value.float() for key, value in model(image).items()}
        require_finite(outputs["out"], row.image)  # finite logits <=> finite class probabilities
        yield row.name, rgb.shape[:2], image, outputs
        progress.advance()


@torch.no_grad()
def flip_averaged_probabilities(
    model: nn.Module, image: torch.Tensor, plain_logits: torch.Tensor, size_hw: tuple[int, int]
) -> torch.Tensor:
    """Softmax of the image and of its mirror, each upsampled (bilinear, align_corners) to ``size_hw``, averaged
    (``generate_pseudo_label.py --flip``, L74-88). ``plain_logits`` are the image's own logits, which
    ``target_outputs`` has already computed: only the mirror goes through the network. Returns (C, H, W)."""
    plain = upsample_logits(plain_logits.float(), size_hw).softmax(dim=1)
    mirrored = upsample_logits(model(image.flip(-1))["out"].float(), size_hw).softmax(dim=1).flip(-1)
    return ((plain + mirrored) / 2)[0]
