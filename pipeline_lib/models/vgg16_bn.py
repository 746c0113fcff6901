"""DA-SAC's two VGG-16-BN networks, laid out exactly as ``visinf/da-sac`` builds them from torchvision's
``vgg16_bn`` (``models/deeplabv2.py`` ``DeepLabV2_VGG16(use_bn=True)``, ``models/fcn.py``
``VGG16_FCN8s(use_bn=True)``), so released snapshots load by name.

torchvision's ``vgg16_bn().features`` is conv -> BN -> ReLU per 3x3 conv with max-pools (2x2/2, floor)
at indices 6, 13, 23 (pool3), 33 (pool4) and 43 (pool5); conv5_1..3 sit at 34, 37 and 40.

- **DeepLab-v2** (``deeplabv2_vgg16_bn``): pool4 and pool5 removed and the list re-indexed (conv5
  moves to 33, 36, 39), conv5 dilated 2, then fc6 and fc7 (3x3 convs to 1024 channels, dilation 4,
  each followed by a ReLU, no BN) at ``features.42`` / ``features.44``, and the four-branch ASPP
  ``classifier`` (dilations 6-24, summed). Output stride 8.
- **FCN-8s** (``fcn_vgg16_bn``): ``block1`` = features[:24] (to pool3, stride 8), ``block2`` =
  features[24:34] (to pool4, 16), ``block3`` = features[34:] (to pool5, 32); Sequential slices keep
  torchvision's indices as key names (``block2.24.weight``). ``vgg_head`` (7x7 conv to 4096, BN, ReLU,
  Dropout2d, 1x1 conv, BN, ReLU, Dropout2d, 1x1 conv to the classes) scores pool5; its score is
  upsampled x2 (bilinear, align_corners) and added to ``score_pool4`` (1x1 on pool4), then again x2
  plus ``score_pool3``: logits at stride 8. The sums need inputs divisible by 32, as in the reference.

Both return ``{"out": logits at stride 8, "features": the tensor the final scoring reads}`` and use
ImageNet-normalised inputs (DA-SAC, A.4.2).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from pipeline_lib.models.deeplabv2 import ASPPClassifier

#: (width, 3x3 convs) per stage of torchvision's VGG-16; each stage ends in a max-pool.
VGG16_STAGES = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))
#: torchvision ``vgg16_bn().features`` indices of pool4 and pool5, and of conv5_1..3.
POOL4_INDEX, POOL5_INDEX = 33, 43
CONV5_INDICES = (34, 37, 40)
#: ``block1`` / ``block2`` / ``block3`` of FCN-8s end after pool3, pool4 and pool5.
FCN_BLOCK_ENDS = (24, 34, 44)
FC_CHANNELS = 1024
FCN_HEAD_CHANNELS = 4096
FCN_DROPOUT = 0.1


def vgg16_bn_features() -> list[nn.Module]:
    """torchvision's ``vgg16_bn().features`` layer list, with torchvision's init (Kaiming fan-out convs,
    zero biases, BN weight 1 / bias 0); ImageNet weights normally replace it."""
    layers: list[nn.Module] = []
    in_channels = 3
    for width, convs in VGG16_STAGES:
        for _ in range(convs):
            conv = nn.Conv2d(in_channels, width, 3, padding=1)
            nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(conv.bias)
            layers += [conv, nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
            in_channels = width
        layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
    return layers


#: torchvision ``features`` index -> ours in the DeepLab-v2 network (pool4/pool5 dropped), for the
#: ImageNet loader; FCN-8s keeps torchvision's indices under its three blocks.
DEEPLAB_FEATURE_INDEX: dict[int, int] = {
    index: index - sum(pool < index for pool in (POOL4_INDEX, POOL5_INDEX))
    for index in range(POOL5_INDEX + 1)
    if index not in (POOL4_INDEX, POOL5_INDEX)
}


def fcn_block_key(index: int) -> str:
    """``features.<index>`` of torchvision -> the FCN-8s block that holds it (``block2.24``)."""
    block = next(number for number, end in enumerate(FCN_BLOCK_ENDS, start=1) if index < end)
    return f"block{block}.{index}"


class DeepLabV2VGG16BN(nn.Module):
    """DA-SAC ``DeepLabV2_VGG16(use_bn=True)``: single-level, output stride 8.

    New (not pretrained) parameters: fc6, fc7 (inside ``features``) and the classifier, whose convs
    start from N(0, 0.01) as in the reference; fc6/fc7 keep PyTorch's default init.
    """

    input_convention = "imagenet"

    def __init__(self, num_classes: int = 19) -> None:
        super().__init__()
        layers = [layer for index, layer in enumerate(vgg16_bn_features()) if index not in (POOL4_INDEX, POOL5_INDEX)]
        for index in CONV5_INDICES:
            conv = layers[DEEPLAB_FEATURE_INDEX[index]]
            conv.dilation, conv.padding = (2, 2), (2, 2)
        fc6_index = len(layers)
        layers += [nn.Conv2d(512, FC_CHANNELS, 3, padding=4, dilation=4), nn.ReLU(inplace=True)]
        layers += [nn.Conv2d(FC_CHANNELS, FC_CHANNELS, 3, padding=4, dilation=4), nn.ReLU(inplace=True)]
        self.features = nn.Sequential(*layers)
        self.classifier = ASPPClassifier(FC_CHANNELS, num_classes, (6, 12, 18, 24), branches_used=4)
        for conv in self.classifier.conv2d_list:
            nn.init.normal_(conv.weight, 0.0, 0.01)
        self.new_parameter_prefixes: tuple[str, ...] = (
            f"features.{fc6_index}.",
            f"features.{fc6_index + 2}.",
            "classifier.",
        )

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.features(x)
        return {"out": self.classifier(features), "features": features}


def _up_x2(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)


class FCN8sVGG16BN(nn.Module):
    """DA-SAC ``VGG16_FCN8s(use_bn=True)``: scores of pool5, pool4 and pool3 summed at stride 8.

    New parameters: ``vgg_head`` (PyTorch's default init, as the reference) and the two score layers
    (weights N(0, 0.01), default biases).
    """

    input_convention = "imagenet"
    new_parameter_prefixes: tuple[str, ...] = ("vgg_head.", "score_pool4.", "score_pool3.")

    def __init__(self, num_classes: int = 19) -> None:
        super().__init__()
        named = [(str(index), layer) for index, layer in enumerate(vgg16_bn_features())]
        starts = (0, *FCN_BLOCK_ENDS[:-1])
        self.block1, self.block2, self.block3 = (
            nn.Sequential(OrderedDict(named[start:end])) for start, end in zip(starts, FCN_BLOCK_ENDS, strict=True)
        )
        self.vgg_head = nn.Sequential(
            nn.Conv2d(512, FCN_HEAD_CHANNELS, 7, padding=3),
            nn.BatchNorm2d(FCN_HEAD_CHANNELS),
            nn.ReLU(inplace=True),
            nn.Dropout2d(p=FCN_DROPOUT),
            nn.Conv2d(FCN_HEAD_CHANNELS, FCN_HEAD_CHANNELS, 1),
            nn.BatchNorm2d(FCN_HEAD_CHANNELS),
            nn.ReLU(inplace=True),
            nn.Dropout2d(p=FCN_DROPOUT),
            nn.Conv2d(FCN_HEAD_CHANNELS, num_classes, 1),
        )
        self.score_pool4 = nn.Conv2d(512, num_classes, 1)
        self.score_pool3 = nn.Conv2d(256, num_classes, 1)
        for score in (self.score_pool4, self.score_pool3):
            nn.init.normal_(score.weight, 0.0, 0.01)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        pool3 = self.block1(x)
        pool4 = self.block2(pool3)
        pool5 = self.block3(pool4)
        score = _up_x2(self.vgg_head(pool5)) + self.score_pool4(pool4)
        score = _up_x2(score) + self.score_pool3(pool3)
        return {"out": score, "features": pool5}
