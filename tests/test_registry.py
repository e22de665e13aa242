"""The architecture registry: every registered architecture passes the checks a new model needs, and a new
one is a registry entry plus its block module (a toy 5x5 architecture gets everything else for free)."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from shiftnet.cli import app
from shiftnet.models import (
    Architecture,
    Conv,
    ModelSpec,
    arch_names,
    count_macs,
    count_params,
    create_model,
    get_arch,
    list_models,
    model_stats,
    parse_model_name,
    register,
    registered,
    unregister,
)
from shiftnet.models.blocks import make_shortcut, needs_projection
from shiftnet.models.infer import build_from_state, infer_spec
from shiftnet.models.knobs import REDUCTION
from shiftnet.presets.rows import preset_rows
from shiftnet.published import seed_table_entries

from .conftest import stderr_of


def variants(arch: str, depth: int = 8) -> list[ModelSpec]:
    """The plain net and each knob setting the arch accepts, each read back exactly by infer_spec."""
    entry = get_arch(arch)
    specs = [ModelSpec(arch, depth)]
    if entry.knob.field == "expansion":
        specs += [ModelSpec(arch, depth, expansion=3.0), ModelSpec(arch, depth, expansion=1.5, num_classes=100)]
    else:
        specs += [ModelSpec(arch, depth, reduction=3.3, num_classes=100)]
        specs += [ModelSpec(arch, depth, reduction=2.0, shortcut_rule=rule) for rule in entry.shortcut_rules]
        specs += [ModelSpec(arch, depth, reduction=2.9, reduction_mode="net") for _ in ("net",)
                  if "net" in entry.reduction_modes]
    return [spec.validated() for spec in specs]


def table_specs() -> list[ModelSpec]:
    """Every spec of both seed tables (10 and 100 classes), once each."""
    specs = [entry.spec for classes in (10, 100) for entry in seed_table_entries(classes)]
    specs += [ModelSpec(**p["model"], num_classes=10 if p["dataset"] == "cifar10" else 100) for p in preset_rows()]
    return list(dict.fromkeys(spec.validated() for spec in specs))


@pytest.mark.parametrize("arch", arch_names())
def test_forward_backward_and_channels_last(arch):
    torch.manual_seed(0)
    model = create_model(ModelSpec(arch, 8, num_classes=7))
    x = torch.randn(2, 3, 32, 32)
    out = model(x)
    assert out.shape == (2, 7)
    out.square().sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    model.eval()
    with torch.no_grad():
        nchw = model(x)
        nhwc = model.to(memory_format=torch.channels_last)(x.to(memory_format=torch.channels_last))
    torch.testing.assert_close(nhwc, nchw, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("arch", arch_names())
def test_traces_as_one_graph_under_torch_compile(arch):
    """fullgraph: no graph break anywhere in the net (aot_eager traces forward and backward as inductor
    would, without generating code; tests/test_shift_compile.py runs inductor itself on the shift block)."""
    torch._dynamo.reset()
    model = create_model(ModelSpec(arch, 8))
    compiled = torch.compile(model, backend="aot_eager", fullgraph=True)
    x = torch.randn(2, 3, 32, 32)
    compiled(x).sum().backward()
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x))


@pytest.mark.parametrize("spec", [s for arch in arch_names() for s in variants(arch)], ids=lambda s: s.name)
def test_weights_give_back_their_spec(spec):
    state = create_model(spec).state_dict()
    assert infer_spec(state) == spec
    assert build_from_state(state).spec == spec


@pytest.mark.parametrize("arch", arch_names())
def test_each_entry_lists_the_layers_its_block_builds(arch):
    """``Architecture.layers`` (what counting and weight recognition read) is what the block module builds."""
    entry = get_arch(arch)
    for cin, mid, planes, stride, rule in [(16, 8, 32, 2, "current"), (16, 5, 16, 1, entry.shortcut_rules[-1])]:
        block = entry.make_block(cin, planes, stride, mid, rule, None)
        convs = {name: m for name, m in block.named_modules() if isinstance(m, nn.Conv2d)}
        for conv in entry.layers(cin, mid, planes, stride):
            built = convs.pop(conv.name)
            assert (built.in_channels, built.out_channels, built.kernel_size, built.stride, built.groups) == \
                (conv.cin, conv.cout, (conv.kernel,) * 2, (conv.stride,) * 2, conv.groups)
            assert isinstance(block.get_submodule(conv.name.replace("conv", "bn")), nn.BatchNorm2d)
        assert set(convs) == ({"shortcut.0"} if needs_projection(cin, planes, mid, stride, rule) else set())


def closed_form_cases() -> list[ModelSpec]:
    cases = table_specs()
    for arch in arch_names():
        for depth in (8, 20, 56):
            cases += variants(arch, depth)
    return list(dict.fromkeys(cases))


@pytest.mark.parametrize("spec", closed_form_cases(), ids=lambda s: s.name)
def test_closed_form_counts_equal_the_built_model(spec):
    """``params`` counts from the layer shapes; the built module and its hooks are the oracle."""
    model = create_model(spec)
    assert spec.counts() == (count_params(model), count_macs(model))


def test_model_stats_builds_nothing(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("model_stats built a model")

    monkeypatch.setattr(nn.Module, "__init__", refuse)
    row = model_stats(ModelSpec("shiftresnet", 110, expansion=6))
    assert (row["params"], row["macs"]) == (1_177_946, 173_720_192)


class Wide5Block(nn.Module):
    """A toy block: two 5x5 convs, otherwise a BasicBlock."""

    def __init__(self, in_planes, planes, stride=1, mid=None, shortcut_rule="current"):
        super().__init__()
        mid = planes if mid is None else mid
        self.conv1 = nn.Conv2d(in_planes, mid, 5, stride, 2, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, planes, 5, 1, 2, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = make_shortcut(in_planes, planes, stride, mid, shortcut_rule)

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


@pytest.fixture
def wide5():
    entry = register(Architecture(
        "wideresnet", Wide5Block,
        lambda cin, mid, planes, stride: (Conv("conv1", cin, mid, 5, stride), Conv("conv2", mid, planes, 5)),
        REDUCTION, reduction_modes=("block", "net"), shortcut_rules=("current", "legacy"),
    ))
    try:
        yield entry
    finally:
        unregister(entry.name)


def test_a_new_architecture_is_one_registry_entry(wide5):
    assert "wideresnet20" in list_models() and "wideresnet" in arch_names()
    for spec in variants("wideresnet", 14):
        model = create_model(spec.name)
        assert isinstance(model.layer1[0], Wide5Block) and model.spec == spec
        assert parse_model_name(spec.name) == spec == parse_model_name(spec.name.replace(".", "p"))
        assert spec.counts() == (count_params(model), count_macs(model))
        assert infer_spec(model.state_dict()) == spec
        assert model(torch.randn(1, 3, 32, 32)).shape == (1, spec.num_classes)
    assert ModelSpec("wideresnet", 20, reduction=12).knob == "r=12"
    result = CliRunner().invoke(app, ["params", "--arch", "wideresnet20_r2_block_legacy", "--json"])
    assert result.exit_code == 0, stderr_of(result)
    (row,) = json.loads(result.stdout)
    assert row["params"] == count_params(create_model("wideresnet20_r2_block_legacy"))
    with pytest.raises(ValueError, match="--expansion applies to shiftresnet only; wideresnet takes --reduction"):
        create_model("wideresnet20", expansion=2)


def test_after_unregistering_the_name_is_unknown_again(wide5):
    unregister("wideresnet")
    try:
        with pytest.raises(ValueError, match="unknown model 'wideresnet20'"):
            create_model("wideresnet20")
        with pytest.raises(ValueError, match="unknown arch 'wideresnet'; choose one of resnet, shiftresnet"):
            ModelSpec("wideresnet").validated()
    finally:
        register(wide5)


def test_the_registry_refuses_what_would_be_ambiguous(wide5):
    with pytest.raises(ValueError, match="already registered"):
        register(wide5)
    twin = dataclasses.replace(get_arch("resnet"), name="twinresnet")
    with pytest.raises(ValueError, match="same layers as resnet's: weights could not tell them apart"):
        register(twin)
    with pytest.raises(ValueError, match="lower-case letters"):
        register(dataclasses.replace(wide5, name="wide_resnet"))
    assert [arch.name for arch in registered()][:3] == ["resnet", "shiftresnet", "depthwiseresnet"]


def test_weights_of_no_registered_architecture_are_named():
    state = create_model("resnet8").state_dict()
    state["layer1.0.conv1.weight"] = torch.zeros(16, 16, 7, 7)
    with pytest.raises(ValueError, match=r"first block's convs \['conv1 7x7', 'conv2 3x3'\] match no architecture"):
        infer_spec(state)


@pytest.mark.parametrize("spec,label", [
    (ModelSpec("shiftresnet", 20), "a=c"), (ModelSpec("shiftresnet", 20, expansion=3), "a=3c"),
    (ModelSpec("shiftresnet", 20, expansion=1.5), "a=1.5c"), (ModelSpec("resnet", 20), "original"),
    (ModelSpec("resnet", 20, reduction=12, shortcut_rule="legacy"), "r=12 (legacy)"),
    (ModelSpec("resnet", 20, reduction=2.8), "r=2.8"),
    (ModelSpec("resnet", 20, reduction=2.9, reduction_mode="net"), "r=2.9 (net)"),
    (ModelSpec("depthwiseresnet", 20, reduction=4), "r=4"),
], ids=lambda value: value if isinstance(value, str) else value.name)
def test_one_label_for_the_width_knob(spec, label):
    assert spec.validated().knob == label
