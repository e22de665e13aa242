"""Model names: every name the tool prints reads back into the same spec, wherever a name is taken."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from shiftnet.cli import app
from shiftnet.cli.bench import parse_model
from shiftnet.cli.options import dataset_for_classes, model_fields, spec_from_flags
from shiftnet.models import ModelSpec, create_model, list_models, name_fields, parse_model_name
from shiftnet.presets.rows import preset_rows
from shiftnet.published import seed_table_entries

from .conftest import stderr_of

runner = CliRunner()


def table_specs() -> list[ModelSpec]:
    """Every model of both seed tables: the Nov-2017 table (10 and 100 classes) and every preset row."""
    specs = [entry.spec.validated() for classes in (10, 100) for entry in seed_table_entries(classes)]
    for preset in preset_rows():
        classes = 10 if preset["dataset"] == "cifar10" else 100
        specs.append(ModelSpec(**preset["model"], num_classes=classes).validated())
    return specs


def test_every_table_spec_round_trips_through_its_name():
    specs = table_specs()
    assert len(specs) == 2 * 27 + 74
    for spec in specs:
        assert parse_model_name(spec.name) == spec, spec.name
        assert parse_model_name(spec.name.replace(".", "p")) == spec, spec.name  # timm's spelling
        assert create_model(spec.name).spec == spec, spec.name  # the model is built from its spec alone
    names = {spec.name for spec in specs}
    assert {"shiftresnet20_e3", "resnet56", "resnet20_r3.3_block_legacy", "resnet110_r7.8_block",
            "shiftresnet110_e9_c100", "resnet20_r12_block_legacy_c100"} <= names


@pytest.mark.parametrize("spec", [
    ModelSpec("shiftresnet", 8, expansion=1.23456789),
    ModelSpec("shiftresnet", 14, expansion=0.5, num_classes=7),
    ModelSpec("resnet", 26, reduction=2.9, reduction_mode="net"),
    ModelSpec("resnet", 20, reduction=2.9, reduction_mode="net", shortcut_rule="legacy"),
    ModelSpec("resnet", 20, reduction=0.95, shortcut_rule="legacy", num_classes=100),
    ModelSpec("depthwiseresnet", 110, reduction=3),
    ModelSpec("depthwiseresnet", 20),
    ModelSpec("resnet", 20, reduction=1e-1),
], ids=lambda spec: spec.name)
def test_other_specs_round_trip(spec):
    spec = spec.validated()
    assert parse_model_name(spec.name) == spec


def test_knobs_that_change_nothing_are_normalised_so_one_net_has_one_name():
    """Without a reduction the inner width is the output width: the legacy rule and net mode change nothing
    (the Nov-2017 r = 1 row is the plain ResNet20), so the spec drops them and the name reads back."""
    plain = ModelSpec("resnet", 20).validated()
    assert ModelSpec("resnet", 20, reduction=1, shortcut_rule="legacy").validated() == plain
    assert ModelSpec("resnet", 20, reduction_mode="net").validated() == plain
    assert create_model(ModelSpec("resnet", 20, reduction=1, shortcut_rule="legacy")).state_dict().keys() \
        == create_model(plain).state_dict().keys()


@pytest.mark.parametrize("text,fields", [
    ("shiftresnet20", {"arch": "shiftresnet", "depth": 20}),
    ("ShiftResNet56 ", {"arch": "shiftresnet", "depth": 56}),
    ("shiftresnet20:3", {"arch": "shiftresnet", "depth": 20, "expansion": 3.0}),
    ("shiftresnet20:e6", {"arch": "shiftresnet", "depth": 20, "expansion": 6.0}),
    ("resnet20:r2.8", {"arch": "resnet", "depth": 20, "reduction": 2.8}),
    ("resnet20_r.98_net", {"arch": "resnet", "depth": 20, "reduction": 0.98, "reduction_mode": "net"}),
    ("resnet20_legacy", {"arch": "resnet", "depth": 20, "shortcut_rule": "legacy"}),
    ("shiftresnet8_e1e-07", {"arch": "shiftresnet", "depth": 8, "expansion": 1e-07}),
])
def test_the_short_forms(text, fields):
    assert name_fields(text) == fields


@pytest.mark.parametrize("text,message", [
    ("resnet50", "only CIFAR depths 6n+2 exist here (20, 56, 110, ...)"),
    ("shiftresnet152_e3", "ImageNet model"),
    ("resnet21", "depth must be 6n+2"),
    ("resnet18", "depth must be 6n+2"),
    ("vgg16", "unknown model 'vgg16'; names look like resnet20, shiftresnet56, shiftresnet20_e3"),
    ("shiftresnet20_e3_r2_block", "takes --expansion, not --reduction"),
    ("resnet20_block_r2", "unknown model"),  # knobs in another order are not half read
    ("resnet20_r2", "unknown model"),  # a reduction always prints its mode
    ("shiftresnet20:abc", "after the colon give an expansion (shiftresnet20:3) or a reduction (resnet20:r2.8)"),
    ("resnet20:r", "after the colon"),
    ("resnet" + "9" * 5000, "unknown model"),
    ("shiftresnet20_e1e400", "expansion must be a positive number"),
])
def test_bad_names_say_what_is_wrong(text, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        create_model(text)


def test_create_model_takes_names_and_overrides():
    assert create_model("shiftresnet20", expansion=3).spec == parse_model_name("shiftresnet20_e3")
    assert create_model("resnet20_r2.8_block", num_classes=100).spec.name == "resnet20_r2.8_block_c100"
    assert [create_model(name).spec.name for name in list_models()[:3]] == ["resnet20", "resnet56", "resnet110"]


def test_bench_takes_every_printed_name_and_its_own_short_form():
    assert parse_model("shiftresnet20:3") == parse_model("shiftresnet20_e3") == parse_model_name("shiftresnet20_e3")
    assert parse_model("resnet20:r2.8").name == "resnet20_r2.8_block"
    for spec in table_specs()[:27]:
        assert parse_model(spec.name) == spec
    with pytest.raises(ValueError, match="^--model: resnet50 is an ImageNet model"):
        parse_model("resnet50")


def test_arch_flag_takes_names_and_refuses_contradictions():
    legacy = "resnet56_r3.3_block_legacy"
    assert spec_from_flags(legacy, None, None, None, None, None).name == legacy
    assert spec_from_flags("shiftresnet20_e3_c100", None, None, None, None, None).num_classes == 100
    assert spec_from_flags("shiftresnet20", None, 6.0, None, None, None).name == "shiftresnet20_e6"
    assert model_fields("resnet20:r2.8", None, None, None, "net", None)["reduction_mode"] == "net"
    for args, message in [
        (("shiftresnet20_e3", None, 6.0, None, None, None), "--arch shiftresnet20_e3 and --expansion 6.0 disagree"),
        (("resnet20", 56, None, None, None, None), "--arch resnet20 and --depth 56 disagree"),
        (("resnet20_r2_block", None, None, None, "net", None), "--reduction-mode net disagree"),
    ]:
        with pytest.raises(ValueError, match=message):
            spec_from_flags(*args)
    with pytest.raises(ValueError, match="has 100 classes but --classes is 10"):
        spec_from_flags("resnet20_c100", None, None, None, None, None, 10)
    assert dataset_for_classes("resnet20_c100", 100, None) == "cifar100"
    with pytest.raises(ValueError, match="has 100 classes but --dataset cifar10 has 10"):
        dataset_for_classes("resnet20_c100", 100, "cifar10")
    with pytest.raises(ValueError, match="no data set has 7 classes"):
        dataset_for_classes("resnet20_c7", 7, None)


def test_every_name_the_params_table_prints_is_a_name():
    result = runner.invoke(app, ["params", "--classes", "100"], env={"COLUMNS": "200"})
    printed = [line.split()[0] for line in result.output.splitlines() if re.match(r"^ \w+\d+\S* +[\d,]+ ", line)]
    assert printed == [entry.spec.name for entry in seed_table_entries(100)]
    assert all(create_model(name).spec.name == name for name in printed)


def test_params_prints_a_name_that_params_reads_back():
    first = runner.invoke(app, ["params", "--arch", "resnet", "--depth", "56", "--reduction", "3.3",
                                "--shortcut-rule", "legacy", "--classes", "100", "--json"])
    assert first.exit_code == 0, stderr_of(first)
    (row,) = json.loads(first.stdout)
    again = runner.invoke(app, ["params", "--arch", row["name"], "--json"])
    assert again.exit_code == 0, stderr_of(again)
    assert json.loads(again.stdout) == [row] and row["name"] == "resnet56_r3.3_block_legacy_c100"


@pytest.mark.parametrize("args,message", [
    (["params", "--arch", "resnet50"], "resnet50 is an ImageNet model"),
    (["params", "--arch", "resnet20_c7"], "a head of 10 or 100 classes only"),
    (["train", "--arch", "resnet20_c100", "--dataset", "cifar10"], "has 100 classes but --dataset cifar10 has 10"),
    (["train", "--arch", "shiftresnet20_e3", "--expansion", "6"], "disagree"),
    (["bench", "train", "-m", "resnet20_r2"], "--model: unknown model 'resnet20_r2'"),
])
def test_bad_names_on_the_command_line_are_one_line(args, message):
    result = runner.invoke(app, args)
    err = stderr_of(result)
    assert result.exit_code == 2 and message in err and len(err.strip().splitlines()) == 1, err
