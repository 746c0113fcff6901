"""The fully-convolutional discriminators on segmentation softmax maps of AdaptSegNet and of CPSL/ProDA.

AdaptSegNet's (spec B.2), ``model/discriminator.py`` of the reference: five 4x4 convs with stride 2
and padding 1, channels num_classes -> w -> 2w -> 4w -> 8w -> 1 (w = 64 there), LeakyReLU(0.2) after
the first four, no normalisation, no sigmoid (it returns logits for ``BCEWithLogitsLoss``/MSE) and no final upsampling.
Each conv halves the size (floor), so a 512x1024 map gives 16x32 patch logits and 720x1280 gives
22x40. Key names (``conv1..conv4``, ``classifier``) and PyTorch's default init match the reference.

CPSL/ProDA's warm-up discriminator (CPSL ``models/discriminator.py`` L9-34, spec cpsl_proda.md §6.12)
differs: 3x3 convs (stride 2, padding 1), ReLU after the first three, LeakyReLU(0.2) after the fourth,
and a 1x1 classifier without stride, so a map shrinks 16x (ceil) instead of 32x.
"""

from __future__ import annotations

import torch
from torch import nn

#: LeakyReLU slope after conv1..conv4 (spec B.2).
NEGATIVE_SLOPE = 0.2


class FCDiscriminator(nn.Module):
    """Patch discriminator: ``forward(softmax maps (N, C, H, W)) -> logits (N, 1, H/32, W/32)``.

    ``width`` is the reference's ``ndf`` (64); the CPU demo uses a narrower one, as its segmenter is
    narrower too.
    """

    def __init__(self, num_classes: int = 19, width: int = 64) -> None:
        super().__init__()
        if width < 1:
            raise ValueError(f"discriminator width must be >= 1, got {width}")
        self.conv1 = nn.Conv2d(num_classes, width, kernel_size=4, stride=2, padding=1)
        self.conv2 = nn.Conv2d(width, width * 2, kernel_size=4, stride=2, padding=1)
        self.conv3 = nn.Conv2d(width * 2, width * 4, kernel_size=4, stride=2, padding=1)
        self.conv4 = nn.Conv2d(width * 4, width * 8, kernel_size=4, stride=2, padding=1)
        self.classifier = nn.Conv2d(width * 8, 1, kernel_size=4, stride=2, padding=1)
        self.leaky_relu = nn.LeakyReLU(negative_slope=NEGATIVE_SLOPE, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
            x = self.leaky_relu(conv(x))
        return self.classifier(x)


class ProDADiscriminator(nn.Module):
    """CPSL/ProDA's ``FCDiscriminator(inplanes=num_classes, planes=width)``: logits (N, 1, H/16, W/16)."""

    def __init__(self, num_classes: int = 19, width: int = 64) -> None:
        super().__init__()
        if width < 1:
            raise ValueError(f"discriminator width must be >= 1, got {width}")
        self.conv1 = nn.Conv2d(num_classes, width, kernel_size=3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(width, width * 2, kernel_size=3, stride=2, padding=1)
        self.conv3 = nn.Conv2d(width * 2, width * 4, kernel_size=3, stride=2, padding=1)
        self.conv4 = nn.Conv2d(width * 4, width * 8, kernel_size=3, stride=2, padding=1)
        self.relu = nn.ReLU(inplace=True)
        self.leaky_relu = nn.LeakyReLU(negative_slope=NEGATIVE_SLOPE, inplace=True)
        self.classifier = nn.Conv2d(width * 8, 1, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in (self.conv1, self.conv2, self.conv3):
            x = self.relu(conv(x))
        return self.classifier(self.leaky_relu(self.conv4(x)))


#: ``discriminator`` config choice -> (class, weight of each half of the discriminator loss): AdaptSegNet
#: averages its source and target terms (``loss_D / 2``, spec B.5), ProDA's ``step_adv`` sums them.
DISCRIMINATORS: dict[str, tuple[type[nn.Module], float]] = {
    "adaptsegnet": (FCDiscriminator, 0.5),
    "proda": (ProDADiscriminator, 1.0),
}
