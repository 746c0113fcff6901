"""ResNet-38 ("rna-a1", ademxapp), the network CBST and MLSL self-train, ported from MXNet.

Read from yzou2/CBST ``util/symbol/resnet_v2.py`` ``fcrna_model_a1(classes, inv_resolution=8)``
(shared/spec/cbst_mlsl.md), not from the paper:

- **Pre-activation blocks**: every convolution is preceded by its own BN + ReLU (``bn{X}_branch2a``
  -> ReLU -> ``res{X}_branch2a``). A stage's first block projects the shortcut with a 1x1 conv
  ``res{X}_branch1`` applied to relu(bn(x)) of ``branch2a``, not to x; the other blocks add x.
- ``conv1a`` (3x3, 64, stride 1) has no BN/ReLU of its own; backbone convolutions have no bias.
- Stride 2 in ``res2a``/``res3a``/``res4a`` (the 3x3 ``branch2a`` and the shortcut): output stride 8.
  ``res5a`` keeps stride 1 and dilates its second conv by 2 (``inc_dilate``), ``res5b*`` use 2;
  the 1-3-1 bottlenecks ``res6a`` (512/1024/2048) and ``res7a`` (1024/2048/4096) dilate their 3x3
  by 4. Padding = dilation; MXNet forces dilation 1 on 1x1 kernels.
- Dropout 0.3 before ``res6a_branch2b2`` and 0.5 before ``res7a_branch2b2``, after that conv's
  BN + ReLU; then ``bn7`` + ReLU give the 4096-d feature ``relu7``.
- Head (``fcn_top``): ``conv6a`` 3x3 dilation 12 with bias + ReLU (no BN), ``linear{N}`` 3x3
  dilation 12 with bias, the class scores at stride 8.
- BN eps 1.001e-5; MXNet momentum 0.9 is torch 0.1. The reference self-trains with
  ``use_global_stats=True``: run it with ``bn_mode: frozen``.

``width_divisor`` divides every convolution's output channels except the classifier's, keeping
the geometry: 16 gives the CPU demo's ``resnet38_tiny`` (and the narrow MXNet test fixture).
Module names mirror the MXNet names (``res2a.branch2a.bn`` for ``bn2a_branch2a``), so
``cbst_import`` maps keys by rule.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

BN_EPS = 1.001e-5
#: Prefixes of the layers the ImageNet classifier ``rna_model_a1(1000)`` does not have.
HEAD_PREFIXES = ("conv6a.", "classifier.")


def _padding(kernel: int, dilation: int) -> int:
    """MXNet ``symbol.conv``'s ``pad=-1`` rule: ((kernel - 1) * dilation + 1) // 2."""
    return ((kernel - 1) * dilation + 1) // 2


def _conv(
    in_channels: int, out_channels: int, kernel: int, stride: int = 1, dilation: int = 1, bias: bool = False
) -> nn.Conv2d:
    dilation = 1 if kernel == 1 else dilation
    return nn.Conv2d(
        in_channels,
        out_channels,
        kernel,
        stride=stride,
        padding=_padding(kernel, dilation),
        dilation=dilation,
        bias=bias,
    )


class PreActConv(nn.Module):
    """BN -> ReLU -> (dropout) -> conv: one ``res_conv_stage``; ``forward`` also returns relu(bn(x))."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel: int, stride: int, dilation: int, dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(in_channels, eps=BN_EPS)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else None  # MXNet Dropout: element-wise
        self.conv = _conv(in_channels, out_channels, kernel, stride, dilation)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        activated = torch.relu(self.bn(x))
        top = activated if self.dropout is None else self.dropout(activated)
        return activated, self.conv(top)


@dataclass(frozen=True)
class BlockSpec:
    """One residual block of ``res_block``: its name, output widths and kernels per conv, geometry."""

    name: str
    widths: tuple[int, ...]
    kernels: tuple[int, ...]
    stride: int = 1
    dilation: int = 1  # of branch2a and the shortcut
    inner_dilation: int = 1  # of branch2b*: dilation x 2 where the reference sets inc_dilate
    projection: bool = False  # res{X}_branch1 instead of the identity
    dropout: float = 0.0  # before the last conv


class PreActBlock(nn.Module):
    """Residual block v2: ``branch2a``, ``branch2b1``... convs; shortcut = x or ``branch1`` on relu(bn(x))."""

    def __init__(self, in_channels: int, spec: BlockSpec) -> None:
        super().__init__()
        self.convs = [f"branch2{chr(ord('a') + min(i, 1))}{i if i else ''}" for i in range(len(spec.widths))]
        channels = in_channels
        for i, (name, width, kernel) in enumerate(zip(self.convs, spec.widths, spec.kernels, strict=True)):
            last = i == len(spec.widths) - 1
            stage = PreActConv(
                channels,
                width,
                kernel,
                stride=spec.stride if i == 0 else 1,
                dilation=spec.dilation if i == 0 else spec.inner_dilation,
                dropout=spec.dropout if last and i > 0 else 0.0,
            )
            self.add_module(name, stage)
            channels = width
        self.branch1 = (
            _conv(in_channels, spec.widths[-1], 1, stride=spec.stride, dilation=spec.dilation)
            if spec.projection
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        block, out = getattr(self, self.convs[0])(x)
        for name in self.convs[1:]:
            _, out = getattr(self, name)(out)
        shortcut = x if self.branch1 is None else self.branch1(block)
        return shortcut + out


def block_specs(width_divisor: int = 1) -> list[BlockSpec]:
    """The blocks of ``fcrna_model_a1`` at output stride 8, widths divided by ``width_divisor``."""

    def w(*widths: int) -> tuple[int, ...]:
        return tuple(width // width_divisor for width in widths)

    specs: list[BlockSpec] = []
    for level, (widths, count) in {2: (w(128, 128), 3), 3: (w(256, 256), 3), 4: (w(512, 512), 6)}.items():
        specs.append(BlockSpec(f"res{level}a", widths, (3, 3), stride=2, projection=True))
        specs += [BlockSpec(f"res{level}b{i}", widths, (3, 3)) for i in range(1, count)]
    specs.append(BlockSpec("res5a", w(512, 1024), (3, 3), dilation=1, inner_dilation=2, projection=True))
    specs += [BlockSpec(f"res5b{i}", w(512, 1024), (3, 3), dilation=2, inner_dilation=2) for i in (1, 2)]
    specs.append(
        BlockSpec("res6a", w(512, 1024, 2048), (1, 3, 1), dilation=2, inner_dilation=4, projection=True, dropout=0.3)
    )
    specs.append(
        BlockSpec("res7a", w(1024, 2048, 4096), (1, 3, 1), dilation=4, inner_dilation=4, projection=True, dropout=0.5)
    )
    return specs


class ResNet38(nn.Module):
    """``fcrna_model_a1``: ResNet-38 backbone at output stride 8 plus CBST's two-conv head.

    ``forward`` returns ``{"out": class scores at stride 8, "features": relu7}`` (the 4096-d feature
    MLSL's PWL branch reads), the contract of ``pipeline_lib.models``.
    """

    input_convention = "imagenet"  # the reference's "rna" nets: RGB / 255, ImageNet mean and std
    new_parameter_prefixes = HEAD_PREFIXES
    prototype_feature = "features"
    multi_level = False

    def __init__(self, num_classes: int = 19, width_divisor: int = 1) -> None:
        super().__init__()
        specs = block_specs(width_divisor)
        self.conv1a = _conv(3, 64 // width_divisor, 3)
        channels = 64 // width_divisor
        self.blocks: list[str] = [spec.name for spec in specs]
        for spec in specs:
            self.add_module(spec.name, PreActBlock(channels, spec))
            channels = spec.widths[-1]
        self.bn7 = nn.BatchNorm2d(channels, eps=BN_EPS)
        self.conv6a = _conv(channels, 512 // width_divisor, 3, dilation=12, bias=True)
        self.classifier = _conv(512 // width_divisor, num_classes, 3, dilation=12, bias=True)
        self._init_weights()

    def _init_weights(self) -> None:
        """MXNet ``Xavier(gaussian, in, magnitude=2)`` (He normal) for weights, zero biases, BN 1/0.

        That is the reference's initializer for layers a loaded file does not provide (solve_ST.py
        L621); released or ImageNet weights overwrite the rest.
        """
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self.conv1a(x)
        for name in self.blocks:
            x = getattr(self, name)(x)
        features = torch.relu(self.bn7(x))
        return {"out": self.classifier(torch.relu(self.conv6a(features))), "features": features}
