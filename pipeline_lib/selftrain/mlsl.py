"""MLSL's training-side additions (``shared/spec/cbst_mlsl.md`` §7.2, §9): OHEM and pseudo weak labels.

- ``ohem_cross_entropy``: the ``ohem_softmax`` op of MLSL's "SISC" script (thresh 0.6, min_kept 256).
- ``PresenceHead`` + ``weak_labels`` + ``presence_loss``: PWL, an image-level multi-label branch on
  the backbone features, trained with BCE against per-crop "class present" labels.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pipeline_lib.data.labels import IGNORE_INDEX

#: MLSL ``issegm1/data1.py``: per-class pixel frequencies (GTA5, inferred), 19 Cityscapes train classes.
PWL_CLASS_FREQUENCY = np.array(
    [0.3232, 0.085, 0.1693, 0.0193, 0.0075, 0.0107, 0.0018, 0.0013, 0.0765, 0.0220,
     0.1364, 0.0039, 0.0023, 0.0274, 0.0169, 0.0181, 0.0143, 0.0019, 0.0031]
)


def ohem_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, thresh: float, min_kept: int) -> torch.Tensor:
    """CE over the hard cells only (§7.2): valid cells whose labelled-class probability is <= ``thresh``.

    If fewer than ``min_kept`` qualify, the threshold rises to the ``min_kept``-th smallest p_y (so at
    least that many cells, or all valid ones, are kept); the loss is averaged over the kept cells.
    Logits are upsampled to the label resolution first, as in ``segmentation_cross_entropy``.
    """
    if tuple(logits.shape[-2:]) != tuple(labels.shape[-2:]):
        logits = F.interpolate(logits, size=tuple(labels.shape[-2:]), mode="bilinear", align_corners=True)
    logits = logits.float()
    valid = labels != IGNORE_INDEX
    if not valid.any():
        return logits.sum() * 0.0
    per_cell = F.cross_entropy(logits, labels, ignore_index=IGNORE_INDEX, reduction="none")[valid]
    with torch.no_grad():
        p_y = torch.exp(-per_cell)
        cut = torch.tensor(thresh, device=p_y.device)
        if int((p_y <= cut).sum()) < min_kept:
            cut = torch.kthvalue(p_y, min(min_kept, p_y.numel())).values
        kept = p_y <= cut
    return per_cell[kept].mean()


class PresenceHead(nn.Module):
    """MLSL's classification branch (§9.1): 1×1 conv → ReLU → 3×3 conv → GAP → FC → FC (logits).

    The reference widths are 4096 → 2048 → 512 → 19 on ResNet-38; here the first conv halves the
    feature width so the branch scales with the backbone. No nonlinearity between the two FC layers
    (§9.1 QUIRK), kept as released.
    """

    def __init__(self, in_channels: int, num_classes: int, fc_width: int = 512) -> None:
        super().__init__()
        hidden = max(1, in_channels // 2)
        self.reduce = nn.Conv2d(in_channels, hidden, kernel_size=1)
        self.context = nn.Conv2d(hidden, hidden, kernel_size=3, padding=1)
        self.fc1 = nn.Linear(hidden, fc_width)
        self.fc2 = nn.Linear(fc_width, num_classes)
        for module in self.modules():  # Xavier for new layers, as MXNet initialises missing parameters
            if isinstance(module, nn.Conv2d | nn.Linear):
                nn.init.xavier_normal_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = self.context(F.relu(self.reduce(features)))
        return self.fc2(self.fc1(x.mean(dim=(2, 3))))


def weak_labels(labels: torch.Tensor, num_classes: int, presence_factor: float) -> torch.Tensor:
    """(B, C) float: class c present in a crop iff its cells >= ``presence_factor``·N·f_c (§9.2).

    N is the number of cells of the crop's label grid (3969 = 63² in the reference); ignored cells
    (255) count for no class.
    """
    if num_classes != len(PWL_CLASS_FREQUENCY):
        raise ValueError(f"PWL's class frequencies cover {len(PWL_CLASS_FREQUENCY)} classes, not {num_classes}")
    flat = labels.reshape(len(labels), -1)
    counts = torch.stack(
        [torch.bincount(row[row != IGNORE_INDEX], minlength=num_classes)[:num_classes] for row in flat]
    )
    frequency = torch.as_tensor(PWL_CLASS_FREQUENCY, dtype=torch.float32, device=labels.device)
    needed = presence_factor * flat.shape[1] * frequency
    return ((counts.float() >= needed) & (counts > 0)).float()


def presence_loss(presence_logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Σ over images of the mean-over-classes BCE, as MXNet's LogisticRegressionOutput gradient (§7.3)."""
    per_class = F.binary_cross_entropy_with_logits(presence_logits.float(), targets, reduction="none")
    return per_class.mean(dim=1).sum()
