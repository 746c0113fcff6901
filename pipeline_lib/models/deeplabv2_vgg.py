"""DeepLab-v2 on VGG-16 (no BN), laid out exactly like AdaptSegNet's ``DeeplabVGG`` (spec B.1.5).

torchvision ``vgg16().features`` keeps indices 0..22 and 24..29; pool4 (23) and pool5 (30) are
dropped and the list re-indexed, so conv5_1..3 move from 24, 26, 28 to 23, 25, 27 and get dilation 2.
fc6 (``features.29``) and fc7 (``features.31``) are new 3x3 convs with dilation 4, each followed by a
ReLU, and ``classifier`` is the ASPP head on their 1024 channels. pool1-3 remain (2x2/2, floor),
so the output stride is 8 (512x1024 -> 64x128 logits).
"""

from __future__ import annotations

import torch
from torch import nn

from pipeline_lib.models.deeplabv2 import ASPPClassifier

# torchvision vgg16 ``features`` index -> ours, for every layer we keep (used by the ImageNet loader).
TORCHVISION_FEATURE_INDEX: dict[int, int] = {**{i: i for i in range(23)}, **{i: i - 1 for i in range(24, 30)}}

# (width, number of 3x3 convs, dilation, followed by a pool) per VGG-16 stage after the surgery.
_STAGES = ((64, 2, 1, True), (128, 2, 1, True), (256, 3, 1, True), (512, 3, 1, False), (512, 3, 2, False))
FC_CHANNELS = 1024


def _dilated_vgg16_features() -> nn.Sequential:
    layers: list[nn.Module] = []
    in_channels = 3
    for width, convs, dilation, pooled in _STAGES:
        for _ in range(convs):
            layers += [nn.Conv2d(in_channels, width, 3, padding=dilation, dilation=dilation), nn.ReLU(inplace=True)]
            in_channels = width
        if pooled:
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
    for _ in range(2):  # fc6, fc7: new, default PyTorch init, not converted from VGG's Linear layers
        layers += [nn.Conv2d(in_channels, FC_CHANNELS, 3, padding=4, dilation=4), nn.ReLU(inplace=True)]
        in_channels = FC_CHANNELS
    return nn.Sequential(*layers)


class DeepLabV2VGG16(nn.Module):
    """AdaptSegNet ``DeeplabVGG``: single-level, output stride 8.

    ``forward`` returns ``{"out": logits at stride 8, "features": fc7 output}``. New (not pretrained)
    parameters: fc6, fc7 and the classifier, named by ``new_parameter_prefixes`` because fc6/fc7 live
    inside ``features``. AdaptSegNet's head sums only two ASPP branches (``aspp_branches_used=2``,
    spec B.1.3); DeepLab-v2 proper sums four.
    """

    input_convention = "imagenet"
    new_parameter_prefixes: tuple[str, ...] = ("features.29.", "features.31.", "classifier.")

    def __init__(self, num_classes: int = 19, aspp_branches_used: int = 4) -> None:
        super().__init__()
        self.features = _dilated_vgg16_features()
        self.classifier = ASPPClassifier(FC_CHANNELS, num_classes, (6, 12, 18, 24), aspp_branches_used)
        self._init_weights()

    def _init_weights(self) -> None:
        """VGG convs as torchvision (Kaiming fan-out, zero bias); fc6/fc7 PyTorch default; head N(0, 0.01).

        This mirrors what AdaptSegNet gets from ``torchvision.models.vgg16()`` plus its own
        ``Classifier_Module`` init; the VGG part is normally replaced by ImageNet weights.
        """
        new_convs = {self.features[29], self.features[31]}
        for module in self.features:
            if isinstance(module, nn.Conv2d) and module not in new_convs:
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(module.bias)
        for conv in self.classifier.conv2d_list:
            nn.init.normal_(conv.weight, 0.0, 0.01)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.features(x)
        return {"out": self.classifier(features), "features": features}
