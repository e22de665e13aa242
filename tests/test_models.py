"""Exact parameter and MAC counts (docs/original.md#counting), structure, semantics and validation of the models."""

from __future__ import annotations

import math

import pytest
import torch

from shiftnet.models import ModelSpec, ShiftConv, count_macs, count_params, create_model, list_models, model_stats

# counted as the seed's count.py counts (docs/original.md#counting):
# (depth, expansion) -> (params 10 classes, params 100 classes, MACs)
SHIFT_COUNTS = {
    (20, 1): (34_906, 40_756, 5_948_032), (20, 3): (95_642, 101_492, 16_433_792),
    (20, 6): (186_746, 192_596, 32_162_432), (20, 9): (277_850, 283_700, 47_891_072),
    (56, 1): (102_106, 107_956, 15_385_216), (56, 3): (294_554, 300_404, 44_745_344),
    (56, 6): (583_226, 589_076, 88_785_536), (56, 9): (871_898, 877_748, 132_825_728),
    (110, 1): (202_906, 208_756, 29_540_992), (110, 3): (592_922, 598_772, 87_212_672),
    (110, 6): (1_177_946, 1_183_796, 173_720_192), (110, 9): (1_762_970, 1_768_820, 260_227_712),
}
RESNET_COUNTS = {20: (272_474, 278_324, 40_813_184), 56: (855_770, 861_620, 125_747_840),
                 110: (1_730_714, 1_736_564, 253_149_824)}
# the same models' reductions (10 classes) to three decimals
SHIFT_REDUCTIONS = {(20, 1): 7.806, (20, 3): 2.849, (20, 6): 1.459, (20, 9): 0.981, (56, 1): 8.381, (56, 3): 2.905,
                    (56, 6): 1.467, (56, 9): 0.982, (110, 1): 8.530, (110, 3): 2.919, (110, 6): 1.469, (110, 9): 0.982}
# docs/original.md#shortcuts: block-reduced ResNets,
# (depth, r) -> (legacy-rule params, reduction, current-rule params, reduction)
BLOCK_REDUCED = {
    (20, 12): (35_946, 7.580, 24_458, 11.14), (20, 3.3): (94_122, 2.895, 82_634, 3.30),
    (20, 1.6): (183_486, 1.485, 171_998, 1.58), (20, 1): (272_474, 1.000, 272_474, 1.00),
    (56, 16): (104_088, 8.222, 59_000, 14.50), (56, 3.3): (298_794, 2.864, 253_706, 3.37),
    (56, 1.6): (582_150, 1.470, 537_062, 1.59), (56, 0.98): (899_660, 0.951, 865_868, 0.988),
    (110, 15): (211_062, 8.200, 115_574, 14.98), (110, 3.3): (605_802, 2.857, 510_314, 3.39),
    (110, 1.6): (1_180_146, 1.467, 1_084_658, 1.60), (110, 0.98): (1_823_006, 0.949, 1_751_198, 0.988),
}
# docs/original.md#counting, the Jan-2018 README: r read as block reduction under the current rule
CURRENT_README = {(20, 7.2): (38_030, 7.165), (20, 2.8): (96_206, 2.832), (20, 1.5): (179_936, 1.514),
                  (20, 0.98): (275_648, 0.988), (56, 7.6): (112_118, 7.633), (56, 2.9): (296_726, 2.884),
                  (56, 1.5): (562_316, 1.522), (110, 7.8): (223_250, 7.752), (110, 2.9): (597_506, 2.897),
                  (110, 1.5): (1_135_886, 1.524), (110, 0.95): (1_802_426, 0.960)}


@pytest.mark.parametrize("depth,expansion", list(SHIFT_COUNTS))
def test_shiftresnet_counts(depth, expansion):
    p10, p100, macs = SHIFT_COUNTS[depth, expansion]
    stats = model_stats(ModelSpec("shiftresnet", depth, expansion=expansion))
    assert stats["params"] == p10 and stats["macs"] == macs
    assert round(stats["reduction_factor"], 3) == SHIFT_REDUCTIONS[depth, expansion]
    assert count_params(create_model(ModelSpec("shiftresnet", depth, expansion=expansion, num_classes=100))) == p100


@pytest.mark.parametrize("depth", list(RESNET_COUNTS))
def test_resnet_counts(depth):
    p10, p100, macs = RESNET_COUNTS[depth]
    model = create_model(f"resnet{depth}")
    assert count_params(model) == p10 and count_macs(model) == macs
    assert count_params(create_model(f"resnet{depth}", num_classes=100)) == p100


@pytest.mark.parametrize("depth,r", list(BLOCK_REDUCED))
def test_block_reduced_counts_under_both_shortcut_rules(depth, r):
    legacy_params, legacy_red, current_params, current_red = BLOCK_REDUCED[depth, r]
    legacy = model_stats(ModelSpec("resnet", depth, reduction=r, shortcut_rule="legacy"))
    current = model_stats(ModelSpec("resnet", depth, reduction=r, shortcut_rule="current"))
    assert legacy["params"] == legacy_params and current["params"] == current_params
    assert round(legacy["reduction_factor"], 3) == legacy_red
    decimals = len(str(current_red).split(".")[1])  # the spec prints these to 2-3 decimals
    assert abs(current["reduction_factor"] - current_red) <= 10 ** -decimals
    # 100 classes: the head grows by 90 x (64 + 1) = 5,850 parameters in every case
    wide = ModelSpec("resnet", depth, reduction=r, shortcut_rule="legacy", num_classes=100)
    assert count_params(create_model(wide)) == legacy_params + 5_850


@pytest.mark.parametrize("depth,r", list(CURRENT_README))
def test_current_readme_reduced_resnets(depth, r):
    params, reduction = CURRENT_README[depth, r]
    stats = model_stats(ModelSpec("resnet", depth, reduction=r))
    assert stats["params"] == params and round(stats["reduction_factor"], 3) == reduction


def test_readme_worked_examples():
    # old README: block r = 5 gives 66,264 params (4.11x) under the old rule, 54,776 (4.97x) under the current one
    assert count_params(create_model(ModelSpec("resnet", 20, reduction=5, shortcut_rule="legacy"))) == 66_264
    assert count_params(create_model(ModelSpec("resnet", 20, reduction=5))) == 54_776
    # hidden ResNet110 rows: e = 2, 4, 5, 7
    for e, params in ((2, 397_914), (4, 787_930), (5, 982_938), (7, 1_372_954)):
        assert count_params(create_model("shiftresnet110", expansion=e)) == params


def closed_form_params(widths, mids, n, classes, block):
    """Spec §7.2's closed form, extended to the depthwise block; independent of the modules."""
    w1 = widths[0]
    total = 27 * w1 + 2 * w1 + widths[2] * classes + classes
    cin = w1
    for stage, (c, m) in enumerate(zip(widths, mids)):
        for index in range(n):
            stride = 2 if stage and index == 0 else 1
            if block == "basic":
                total += 9 * cin * m + 2 * m + 9 * m * c + 2 * c
            else:  # depthwise-with-skip: 1x1, BN, dw3x3, BN, 1x1, BN
                total += cin * m + 2 * m + 9 * m + 2 * m + m * c + 2 * c
            if stride != 1 or cin != c:
                total += cin * c + 2 * c
            cin = c
    return total


@pytest.mark.parametrize("r,widths", [(1.5, (13, 26, 52)), (2.9, (9, 18, 37)), (7.8, (5, 11, 22)), (8.4, (5, 11, 22)),
                                      (8.5, (5, 10, 21))])
@pytest.mark.parametrize("depth", [20, 56])
def test_net_reduction_widths_and_counts(r, widths, depth):
    spec = ModelSpec("resnet", depth, reduction=r, reduction_mode="net")
    model = create_model(spec)
    assert spec.validated().stage_widths == widths
    assert model.conv1.out_channels == widths[0] and model.linear.in_features == widths[2]
    assert count_params(model) == closed_form_params(widths, widths, (depth - 2) // 6, 10, "basic")


@pytest.mark.parametrize("r", [1, 1.12, 0.38, 0.19, 0.125, 4])
def test_depthwise_counts(r):
    spec = ModelSpec("depthwiseresnet", 20, reduction=r).validated()
    mids = [spec.mid_width(c) for c in (16, 32, 64)]
    assert mids == [int((1.0 / r) * c) for c in (16, 32, 64)]
    assert count_params(create_model(spec)) == closed_form_params((16, 32, 64), mids, 3, 10, "depthwise")


@pytest.mark.parametrize("r,mids", [(12, (1, 2, 5)), (16, (1, 2, 4)), (7.2, (2, 4, 8)), (3.3, (4, 9, 19)),
                                    (2.8, (5, 11, 22)), (1.6, (10, 20, 40)), (1.5, (10, 21, 42)), (0.98, (16, 32, 65)),
                                    (0.95, (16, 33, 67))])
def test_block_mid_widths(r, mids):
    spec = ModelSpec("resnet", 20, reduction=r).validated()
    assert tuple(spec.mid_width(c) for c in (16, 32, 64)) == mids


@pytest.mark.parametrize("name", list_models())
@pytest.mark.parametrize("classes", [10, 100])
def test_every_registered_model_runs(name, classes):
    model = create_model(name, num_classes=classes).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 32, 32)).shape == (2, classes)


def test_list_models_names():
    names = list_models()
    assert {"resnet20", "shiftresnet56", "depthwiseresnet110"} <= set(names) and len(names) == 9


def test_state_dict_keys_match_the_original_layout():
    keys = create_model("shiftresnet20", expansion=3).state_dict()
    assert tuple(keys["layer1.0.conv1.weight"].shape) == (48, 16, 1, 1)
    assert tuple(keys["layer2.0.conv2.weight"].shape) == (32, 96, 1, 1)
    assert "layer2.0.shortcut.0.weight" in keys and "layer3.0.shortcut.1.running_var" in keys
    assert "layer1.0.shortcut.0.weight" not in keys and "layer2.1.shortcut.0.weight" not in keys
    assert not any("shift2" in k for k in keys)
    assert {"conv1.weight", "bn1.weight", "linear.weight", "linear.bias"} <= set(keys)
    legacy = create_model(ModelSpec("resnet", 20, reduction=3.3, shortcut_rule="legacy")).state_dict()
    assert all(f"layer{s}.{b}.shortcut.0.weight" in legacy for s in (1, 2, 3) for b in range(3))  # every block


def test_shiftconv_forward_is_the_seed_formula():
    torch.manual_seed(0)
    block = ShiftConv(16, 32, stride=2, mid=96).eval()  # a = 3c: M = 3 x 32
    for bn in (block.bn1, block.bn2, block.shortcut[1]):
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
    x = torch.randn(2, 16, 8, 8)
    from shiftnet.kernels import shift

    h = torch.relu(block.bn1(block.conv1(x)))
    h = torch.relu(block.bn2(block.conv2(shift(h))))
    with torch.no_grad():
        expected = h + block.shortcut(x)
        out = block(x)
    assert torch.equal(out, expected) and out.shape == (2, 32, 4, 4)
    assert (out < 0).any(), "no ReLU after the residual add: outputs can be negative"


@pytest.mark.parametrize("kwargs,message", [
    ({"arch": "shiftresnet", "depth": 21}, "6n\\+2"),
    ({"arch": "resnet", "depth": 2}, "6n\\+2"),
    ({"arch": "shiftresnet", "expansion": 0}, "expansion must be a positive"),
    ({"arch": "shiftresnet", "expansion": math.inf}, "expansion must be a positive"),
    ({"arch": "shiftresnet", "expansion": 0.01}, "every width must be >= 1"),
    ({"arch": "resnet", "reduction": -1}, "reduction must be a positive"),
    ({"arch": "resnet", "reduction": 20}, "every width must be >= 1"),
    ({"arch": "resnet", "reduction": 300, "reduction_mode": "net"}, "every width must be >= 1"),
    ({"arch": "shiftresnet", "reduction": 2}, "not --reduction"),
    ({"arch": "shiftresnet", "shortcut_rule": "legacy"}, "legacy"),
    ({"arch": "resnet", "expansion": 3}, "shiftresnet only"),
    ({"arch": "vgg"}, "unknown arch"),
    ({"arch": "resnet", "reduction_mode": "depthwise"}, "reduction_mode"),
    ({"arch": "depthwiseresnet", "reduction": 2, "reduction_mode": "net"}, "block"),
    ({"arch": "resnet", "num_classes": 0}, "num_classes"),
])
def test_invalid_specs_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        create_model(ModelSpec(**kwargs))


def test_create_model_by_name_and_overrides():
    model = create_model("shiftresnet56", expansion=6, num_classes=100)
    assert model.spec == ModelSpec("shiftresnet", 56, expansion=6.0, num_classes=100)
    assert create_model("shiftresnet20").spec.expansion == 1.0
    with pytest.raises(ValueError, match="6n\\+2"):
        create_model("resnet18")  # the kuangliu ImageNet-width ResNets are not part of this project
    with pytest.raises(ValueError, match="unknown model"):
        create_model("vgg16")
    with pytest.raises(ValueError, match="unknown model option"):
        create_model("resnet20", width=3)
    assert ModelSpec.from_dict(model.spec.to_dict()) == model.spec


def test_any_depth_6n_plus_2_and_fractional_expansion():
    model = create_model("shiftresnet8", expansion=1.5)
    assert model.spec.depth == 8 and len(model.layer1) == 1
    assert model.layer1[0].conv1.out_channels == 24  # int(1.5 * 16)
    assert create_model(ModelSpec("resnet", 14)).spec.blocks_per_stage == 2


def test_shift_impl_is_chosen_when_the_model_is_built():
    """Every shift layer gets the implementation asked for at build time; it changes speed, never the
    weights or the output (conv is exact for finite inputs)."""
    from shiftnet.kernels import Shift

    torch.manual_seed(0)
    exact = create_model("shiftresnet20", expansion=3).eval()
    torch.manual_seed(0)
    conv = create_model("shiftresnet20", expansion=3, shift_impl="conv").eval()
    shifts = [m for m in conv.modules() if isinstance(m, Shift)]
    assert len(shifts) == 9 and {m.impl for m in shifts} == {"conv"}
    assert {m.impl for m in exact.modules() if isinstance(m, Shift)} == {None}
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(conv(x), exact(x), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="shift implementation must be one of auto, torch, cupy, conv"):
        create_model("shiftresnet20", shift_impl="cuda")
