"""ProDA's enhanced ASPP head (``Classifier_Module2``), used by ProDA and CPSL (spec cpsl_proda.md §8).

Five parallel branches on the backbone output, each conv -> ``GroupNorm(32, 256)`` -> ReLU (one 1x1,
four 3x3 with dilation = padding 6/12/18/24), concatenated to 1280 channels, an SE block, a 3x3 conv
to 256 channels and a GroupNorm **without ReLU**, then ``Dropout2d(0.1)``: that 256-d map is ``feat``,
the feature the prototypes live in. A bias-free 1x1 conv turns it into the logits.

``feature_channels`` (256 in the reference) and ``groups`` (32) shrink with the tiny CPU ResNet (64
channels in 8 groups: the reference's 8 channels per group at the backbone's quarter width), so the
demo's head costs what its backbone does rather than 10x its parameters.

Module names reproduce the reference's state-dict keys (``layer5.conv2d_list.{i}.{0,1}``,
``layer5.bottleneck.0.se.{0,2}``, ``layer5.bottleneck.{1,2}``, ``layer5.head.1``), so released
checkpoints load by name (``pipeline_lib.models.proda_import``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

#: Channels of every ASPP branch and of ``feat`` (reference constant).
PRODA_FEATURE_CHANNELS = 256
#: GroupNorm groups throughout the head (reference constant).
PRODA_GROUPS = 32
#: Squeeze-and-excitation reduction (``SEBlock(r=16)``).
SE_REDUCTION = 16


class SEBlock(nn.Module):
    """Squeeze-and-excitation: global average pool, Linear -> ReLU -> Linear -> sigmoid, channel scaling."""

    def __init__(self, channels: int, reduction: int = SE_REDUCTION) -> None:
        super().__init__()
        self.se = nn.Sequential(
            nn.Linear(channels, channels // reduction),
            nn.ReLU(inplace=True),
            nn.Linear(channels // reduction, channels),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = self.se(x.mean(dim=(2, 3)))
        return x * weights[:, :, None, None]


def _branch(in_channels: int, channels: int, groups: int, kernel: int, dilation: int) -> nn.Sequential:
    padding = 0 if kernel == 1 else dilation
    return nn.Sequential(
        nn.Conv2d(in_channels, channels, kernel, padding=padding, dilation=dilation, bias=True),
        nn.GroupNorm(groups, channels),
        nn.ReLU(inplace=True),
    )


class ProDAClassifier(nn.Module):
    """``Classifier_Module2(inplanes, [6, 12, 18, 24], [6, 12, 18, 24], num_classes, droprate=0.1, use_se=True)``.

    ``forward`` returns ``(feat, logits)``. Initial weights follow the reference's *effective* init:
    its own Kaiming init is overwritten by the ResNet's global N(0, 0.01) loop (spec §8), which
    ``DeepLabV2ResNet._init_weights`` applies to every conv, this head's included.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        dilations: Sequence[int] = (6, 12, 18, 24),
        dropout: float = 0.1,
        feature_channels: int = PRODA_FEATURE_CHANNELS,
        groups: int = PRODA_GROUPS,
    ) -> None:
        super().__init__()
        self.feature_channels = feature_channels
        self.conv2d_list = nn.ModuleList(
            [
                _branch(in_channels, feature_channels, groups, 1, 1),
                *(_branch(in_channels, feature_channels, groups, 3, d) for d in dilations),
            ]
        )
        concatenated = feature_channels * (len(dilations) + 1)
        self.bottleneck = nn.Sequential(
            SEBlock(concatenated),
            nn.Conv2d(concatenated, feature_channels, kernel_size=3, padding=1, bias=True),
            nn.GroupNorm(groups, feature_channels),
        )
        self.head = nn.Sequential(nn.Dropout2d(dropout), nn.Conv2d(feature_channels, num_classes, 1, bias=False))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = torch.cat([branch(x) for branch in self.conv2d_list], dim=1)
        feat = self.head[0](self.bottleneck(out))
        return feat, self.head[1](feat)
