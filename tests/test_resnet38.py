"""ResNet-38 (CBST's fcrna_model_a1) against the facts read from the reference symbol code.

Numerical equality with MXNet's own forward pass is in test_cbst_import.py; these tests pin the
geometry that a wrong but self-consistent port could get wrong in both places.
"""

import pytest
import torch

from pipeline_lib.models import build_model
from pipeline_lib.models.param_groups import (
    CBST_MULTIPLIERS,
    DASAC_MULTIPLIERS,
    build_param_groups,
    source_multipliers,
)
from pipeline_lib.models.resnet38 import BN_EPS, ResNet38


def _conv(model: ResNet38, name: str) -> torch.nn.Conv2d:
    return model.get_submodule(name)


def test_full_size_has_the_reference_key_set_and_parameter_count():
    model = ResNet38(19)
    keys = [k for k in model.state_dict() if not k.endswith("num_batches_tracked")]
    assert len(keys) == 195  # mx.nd.save of fcrna_model_a1(19): 195 arg:/aux: arrays
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(124.03e6, rel=1e-3)
    assert all(bn.eps == BN_EPS for bn in model.modules() if isinstance(bn, torch.nn.BatchNorm2d))


def test_strides_dilations_and_dropout_follow_fcrna_model_a1():
    model = build_model("resnet38_tiny")
    for level in (2, 3, 4):
        assert _conv(model, f"res{level}a.branch2a.conv").stride == (2, 2)
        assert _conv(model, f"res{level}a.branch1").stride == (2, 2)
        assert _conv(model, f"res{level}b1.branch2a.conv").stride == (1, 1)
    assert _conv(model, "res5a.branch2a.conv").dilation == (1, 1)
    assert _conv(model, "res5a.branch2b1.conv").dilation == (2, 2)
    assert _conv(model, "res5b2.branch2a.conv").dilation == (2, 2)
    for block in ("res6a", "res7a"):
        assert _conv(model, f"{block}.branch2a.conv").kernel_size == (1, 1)
        assert _conv(model, f"{block}.branch2b1.conv").dilation == (4, 4)
        assert _conv(model, f"{block}.branch2b1.conv").padding == (4, 4)
    for head in ("conv6a", "classifier"):
        assert _conv(model, head).dilation == (12, 12) and _conv(model, head).bias is not None
    dropouts = {name: m.p for name, m in model.named_modules() if isinstance(m, torch.nn.Dropout)}
    assert dropouts == {"res6a.branch2b2.dropout": 0.3, "res7a.branch2b2.dropout": 0.5}
    assert not any(isinstance(m, torch.nn.Conv2d) and m.bias is not None for m in model.res2a.modules())


def test_output_stride_8_and_relu7_features():
    model = build_model("resnet38_tiny", num_classes=16).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 64, 96))
    assert out["out"].shape == (1, 16, 8, 12)
    assert out["features"].shape == (1, 4096 // 16, 8, 12) and out["features"].min() >= 0


def test_identity_and_projection_shortcuts():
    """A block whose branch convs are zero returns x (identity) or branch1(relu(bn(x))) (projection)."""
    model = build_model("resnet38_tiny").eval()
    x = torch.randn(1, 4, 16, 16)
    with torch.no_grad():
        for block in (model.res2a, model.res2b1):
            for name in block.convs:
                getattr(block, name).conv.weight.zero_()
        bn = model.res2a.branch2a.bn
        torch.testing.assert_close(model.res2a(x), model.res2a.branch1(torch.relu(bn(x))))
        y = torch.randn(1, 8, 8, 8)
        torch.testing.assert_close(model.res2b1(y), y)


def test_head_is_new_and_deeplab_options_are_refused():
    model = build_model("resnet38_tiny")
    groups = {group["name"]: len(group["params"]) for group in build_param_groups(model, 1e-3, 5e-4)}
    assert groups["new_weight"] == 2 and groups["new_bias"] == 2  # conv6a and linear<N>
    # train_src.py trains it with lr_type 'alex': no head multiplier, biases 2x (DeepLab keeps 10x/20x).
    assert source_multipliers(model) == CBST_MULTIPLIERS
    assert source_multipliers(build_model("deeplabv2_resnet_tiny")) == DASAC_MULTIPLIERS
    with pytest.raises(ValueError, match="resnet38 is CBST's single-level network"):
        build_model("resnet38", multi_level=True)
