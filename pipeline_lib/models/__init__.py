"""Segmentation networks shared by every method, built by name from the config.

Contract every model honours (the rest of the library relies on it):

- ``forward(x)`` returns a dict: ``"out"`` = main logits at output stride 8, not upsampled;
  ``"aux"`` = auxiliary layer3 logits (multi-level models only); ``"features"`` = the tensor the
  main head consumes.
- ``input_convention``: how inputs must be normalised; ``"imagenet"`` = RGB/255 minus the ImageNet
  mean, divided by its std (DA-SAC's convention, which torchvision ImageNet weights expect).
- ``new_parameter_prefixes``: ``state_dict``-name prefixes of the parameters that are *not*
  pretrained (heads; VGG fc6/fc7, which live inside ``features``). It is the single mechanism the
  LR multipliers (``param_groups``) and the ImageNet loader (``imagenet``) use to tell new from
  pretrained parameters.
"""

from __future__ import annotations

from torch import nn

from pipeline_lib.models.deeplabv2 import DeepLabV2ResNet
from pipeline_lib.models.deeplabv2_vgg import DeepLabV2VGG16
from pipeline_lib.models.resnet38 import ResNet38
from pipeline_lib.models.vgg16_bn import DeepLabV2VGG16BN, FCN8sVGG16BN

ARCHITECTURES: tuple[str, ...] = (
    "deeplabv2_resnet101",
    "deeplabv2_vgg16",
    "deeplabv2_vgg16_bn",
    "fcn_vgg16_bn",
    "deeplabv2_resnet_tiny",
    "resnet38",
    "resnet38_tiny",
)

# The tiny variant keeps ResNet-101's geometry (stem, strides, dilations, ASPP) with one block per
# stage and a quarter of the width, so the CPU demo trains in seconds: ~0.86 M parameters, about
# 0.1 s per SGD step at batch 4, 128x128 on 2 CPU cores.
TINY_RESNET_LAYERS = (1, 1, 1, 1)
TINY_RESNET_BASE_WIDTH = 16
# The tiny ResNet-38 (CBST/MLSL's network) divides every width but the classifier's by 16: ~0.49 M
# parameters, the same blocks, strides and dilations as the 124 M original.
TINY_RESNET38_WIDTH_DIVISOR = 16


def build_model(
    arch: str,
    num_classes: int = 19,
    multi_level: bool = False,
    aspp_branches_used: int = 4,
    head: str = "aspp",
    bn_pretrain: bool = False,
) -> nn.Module:
    """Build ``arch`` with freshly initialised weights (load pretrained ones with ``imagenet``).

    ``head`` and ``bn_pretrain`` select ProDA/CPSL's head and SimCLR-student BatchNorm (ResNets only).
    """
    resnet_options = {
        "multi_level": multi_level,
        "aspp_branches_used": aspp_branches_used,
        "head": head,
        "bn_pretrain": bn_pretrain,
    }
    if arch == "deeplabv2_resnet101":
        return DeepLabV2ResNet(num_classes, **resnet_options)
    if arch == "deeplabv2_resnet_tiny":
        return DeepLabV2ResNet(
            num_classes, layers=TINY_RESNET_LAYERS, base_width=TINY_RESNET_BASE_WIDTH, **resnet_options
        )
    if arch in ("resnet38", "resnet38_tiny"):
        if multi_level or head != "aspp" or bn_pretrain or aspp_branches_used != 4:
            raise ValueError(
                f"{arch} is CBST's single-level network with its own head: multi_level, head, bn_pretrain and "
                "aspp_branches_used (DeepLab-v2 options) must keep their defaults"
            )
        return ResNet38(num_classes, width_divisor=TINY_RESNET38_WIDTH_DIVISOR if arch == "resnet38_tiny" else 1)
    if arch in ("deeplabv2_vgg16_bn", "fcn_vgg16_bn"):
        if multi_level or head != "aspp" or bn_pretrain or aspp_branches_used != 4:
            raise ValueError(
                f"{arch} is DA-SAC's single-level VGG-16-BN network: multi_level, head, bn_pretrain and "
                "aspp_branches_used must keep their defaults"
            )
        return (DeepLabV2VGG16BN if arch == "deeplabv2_vgg16_bn" else FCN8sVGG16BN)(num_classes)
    if arch == "deeplabv2_vgg16":
        if head != "aspp" or bn_pretrain:
            raise ValueError("deeplabv2_vgg16 has only the ASPP head and no bn_pretrain (ResNet-only options)")
        if multi_level:
            raise ValueError("deeplabv2_vgg16 is single-level (AdaptSegNet DeeplabVGG, spec B.1.5)")
        return DeepLabV2VGG16(num_classes, aspp_branches_used=aspp_branches_used)
    raise ValueError(f"unknown architecture {arch!r}; valid: {', '.join(ARCHITECTURES)}")


__all__ = [
    "ARCHITECTURES",
    "DeepLabV2ResNet",
    "DeepLabV2VGG16",
    "DeepLabV2VGG16BN",
    "FCN8sVGG16BN",
    "ResNet38",
    "build_model",
]
