"""DeepLab-v2 on a Caffe-style dilated ResNet, as released by DA-SAC, AdaptSegNet and ProDA/CPSL.

One module serves all three repositories because their backbones share torchvision's key names
(spec dasac_adaptsegnet.md Part C; cpsl_proda.md §8):

- stem ``conv1`` 7x7/2 + ``bn1`` + ReLU + max-pool 3x3/2 pad 1 with **ceil_mode=True**;
- Bottlenecks with the stride on the **first 1x1 conv** (Caffe style, not torchvision's 3x3);
- ``layer3`` dilation 2 and ``layer4`` dilation 4 on every block, first block of every stage with a
  ``downsample`` = (1x1 conv, BN), so the output stride is 8 (512x1024 -> 65x129 logits).

Heads (spec A.3.1, B.1.1, B.1.3): ``Classifier_Module``-style ASPP, four 3x3 convs with bias, summed.
Single-level puts ``layer5`` on ``layer4`` (DA-SAC, AdaptSegNet ``Res_Deeplab``); multi-level puts
``layer5`` on ``layer3`` (auxiliary) and ``layer6`` on ``layer4`` (main), AdaptSegNet ``DeeplabMulti``.
``head="proda"`` puts ProDA/CPSL's GroupNorm + SE ASPP (``proda_head``) on ``layer4`` instead, optionally
behind CPSL's ``bn_pretrain`` BatchNorm (the ``--bn_clr`` SimCLR students, cpsl_proda.md §7.1, §8).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from pipeline_lib.models.proda_head import PRODA_FEATURE_CHANNELS, PRODA_GROUPS, ProDAClassifier

ASPP_BRANCH_CHOICES = (2, 4)
#: ``aspp`` = DeepLab-v2's summed ASPP (DA-SAC, AdaptSegNet); ``proda`` = ProDA/CPSL ``Classifier_Module2``.
HEAD_CHOICES = ("aspp", "proda")


class Bottleneck(nn.Module):
    """ResNet bottleneck with the stride on ``conv1`` (Caffe DeepLab), padding = dilation on ``conv2``.

    ImageNet torchvision weights (stride on the 3x3) load into the same shapes; the function differs
    only for ``layer2.0`` (spec A.3.1 note).
    """

    expansion = 4

    def __init__(
        self, inplanes: int, planes: int, stride: int = 1, dilation: int = 1, downsample: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=1, stride=stride, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + residual)


class ASPPClassifier(nn.Module):
    """DeepLab-v2 ASPP head: parallel 3x3 convs (dilation = padding) straight to class logits, summed.

    ``branches_used=4`` sums all branches (DeepLab-v2, DA-SAC). ``branches_used=2`` sums only the
    first two, which is what AdaptSegNet's ``Classifier_Module`` computes because its ``return`` sits
    inside the loop (**QUIRK**, spec B.1.3); every released AdaptSegNet checkpoint needs it. The
    unused branches remain parameters so those checkpoints load with their full key set.
    """

    def __init__(
        self, in_channels: int, num_classes: int, dilations: Sequence[int] = (6, 12, 18, 24), branches_used: int = 4
    ) -> None:
        super().__init__()
        if branches_used not in ASPP_BRANCH_CHOICES:
            raise ValueError(f"aspp_branches_used must be one of {ASPP_BRANCH_CHOICES}, got {branches_used}")
        if branches_used > len(dilations):
            raise ValueError(f"aspp_branches_used={branches_used} exceeds the {len(dilations)} dilations given")
        self.branches_used = branches_used
        self.conv2d_list = nn.ModuleList(
            nn.Conv2d(in_channels, num_classes, kernel_size=3, padding=d, dilation=d, bias=True) for d in dilations
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = self.conv2d_list[: self.branches_used]
        out = branches[0](x)
        for conv in branches[1:]:
            out = out + conv(x)
        return out


class DeepLabV2ResNet(nn.Module):
    """DeepLab-v2 ResNet (default: ResNet-101) with output stride 8, keys identical to the references.

    ``forward`` returns ``{"out": main logits, "features": layer4 output}`` plus ``"aux"`` (layer3
    logits) when ``multi_level``, and ``"feat"`` (the 256-d map before the 1x1 classifier) with the
    ProDA head; logits are at stride 8 and not upsampled, so the caller chooses the upsampling
    (DA-SAC and AdaptSegNet both use bilinear, align_corners=True; spec Part C).

    ``prototype_feature`` names the output that feeds the final classifier, the feature CPSL/ProDA
    prototypes are means of: ``"feat"`` for the ProDA head, ``"features"`` (layer4) for the ASPP
    head, whose convolutions go straight to logits.

    ``base_width`` scales every channel count (64 = ResNet-101); with ``layers`` it gives the tiny
    CPU variant the same geometry as the full model.
    """

    input_convention = "imagenet"

    def __init__(
        self,
        num_classes: int = 19,
        layers: Sequence[int] = (3, 4, 23, 3),
        base_width: int = 64,
        multi_level: bool = False,
        aspp_dilations: Sequence[int] = (6, 12, 18, 24),
        aspp_branches_used: int = 4,
        head: str = "aspp",
        bn_pretrain: bool = False,
    ) -> None:
        super().__init__()
        if len(layers) != 4:
            raise ValueError(f"layers must give four stage depths, got {tuple(layers)}")
        if head not in HEAD_CHOICES:
            raise ValueError(f"head must be one of {HEAD_CHOICES}, got {head!r}")
        if head == "proda" and multi_level:
            raise ValueError("the ProDA head is single-level (one layer5 on layer4, cpsl_proda.md §8)")
        self.multi_level = multi_level
        self.head_type = head
        self._inplanes = base_width
        self.conv1 = nn.Conv2d(3, base_width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(base_width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1, ceil_mode=True)
        self.layer1 = self._make_layer(base_width, layers[0])
        self.layer2 = self._make_layer(base_width * 2, layers[1], stride=2)
        self.layer3 = self._make_layer(base_width * 4, layers[2], dilation=2)
        self.layer4 = self._make_layer(base_width * 8, layers[3], dilation=4)
        layer3_channels = base_width * 4 * Bottleneck.expansion
        layer4_channels = base_width * 8 * Bottleneck.expansion
        self.bn_pretrain = nn.BatchNorm2d(layer4_channels) if bn_pretrain else None
        extra_prefixes: tuple[str, ...] = ("bn_pretrain.",) if bn_pretrain else ()
        self.prototype_feature = "feat" if head == "proda" else "features"
        if head == "proda":
            # The head narrows with the backbone (ResNet-101's base width 64 gives the reference's 256 / 32).
            self.layer5 = ProDAClassifier(
                layer4_channels,
                num_classes,
                aspp_dilations,
                feature_channels=PRODA_FEATURE_CHANNELS * base_width // 64,
                groups=PRODA_GROUPS * base_width // 64,
            )
            self.new_parameter_prefixes = ("layer5.", *extra_prefixes)
        elif multi_level:
            self.layer5 = ASPPClassifier(layer3_channels, num_classes, aspp_dilations, aspp_branches_used)
            self.layer6 = ASPPClassifier(layer4_channels, num_classes, aspp_dilations, aspp_branches_used)
            self.new_parameter_prefixes: tuple[str, ...] = ("layer5.", "layer6.", *extra_prefixes)
        else:
            self.layer5 = ASPPClassifier(layer4_channels, num_classes, aspp_dilations, aspp_branches_used)
            self.new_parameter_prefixes = ("layer5.", *extra_prefixes)
        self._init_weights()

    def _make_layer(self, planes: int, blocks: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
        # Every stage's first block gets a projection shortcut, as in the references' _make_layer
        # (the dilation 2/4 condition forces it for layer3/layer4 even when channel counts would match).
        downsample = nn.Sequential(
            nn.Conv2d(self._inplanes, planes * Bottleneck.expansion, kernel_size=1, stride=stride, bias=False),
            nn.BatchNorm2d(planes * Bottleneck.expansion),
        )
        modules = [Bottleneck(self._inplanes, planes, stride, dilation, downsample)]
        self._inplanes = planes * Bottleneck.expansion
        modules += [Bottleneck(self._inplanes, planes, dilation=dilation) for _ in range(1, blocks)]
        return nn.Sequential(*modules)

    def _init_weights(self) -> None:
        """All conv weights N(0, 0.01), BN gamma 1 / beta 0 (DA-SAC L198-201, AdaptSegNet, ProDA L234-243).

        Conv biases (heads only) keep PyTorch's default init, as in the references. Pretrained
        backbone weights are loaded afterwards (``pipeline_lib.models.imagenet``).
        """
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.normal_(module.weight, 0.0, 0.01)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        low_level = self.layer3(self.layer2(self.layer1(x)))
        features = self.layer4(low_level)
        if self.bn_pretrain is not None:
            features = self.bn_pretrain(features)
        if self.head_type == "proda":
            feat, out = self.layer5(features)
            return {"out": out, "features": features, "feat": feat}
        if self.multi_level:
            return {"out": self.layer6(features), "aux": self.layer5(low_level), "features": features}
        return {"out": self.layer5(features), "features": features}
