"""The config's model section is a ModelSpec (one default architecture everywhere), old config.yaml files
still load, and each enumerated setting has one home that the command line reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from shiftnet.cli import app
from shiftnet.cli.options import spec_from_flags
from shiftnet.config import AMP_MODES, DEVICES, Config, dump_yaml, from_dict, load_config
from shiftnet.errors import UsageError
from shiftnet.kernels import SHIFT_IMPLS
from shiftnet.models import DEFAULT_ARCH, ModelSpec
from shiftnet.models.spec import check_known_keys

from .conftest import stderr_of

runner = CliRunner()
RESULTS = Path(__file__).resolve().parents[1] / "results"


def test_train_and_params_build_the_same_default_architecture():
    from_config = load_config(None, {"model.depth": 56}).model_spec()
    from_flags = spec_from_flags(None, 56, None, None, None, None)
    assert from_config == from_flags == ModelSpec(DEFAULT_ARCH, 56).validated()
    assert from_config.name == "shiftresnet56_e1"
    result = runner.invoke(app, ["params", "--depth", "56", "--json"])
    assert json.loads(result.stdout)[0]["name"] == from_config.name
    assert spec_from_flags(None, 56, None, 3.3, None, None).arch == "resnet"  # --reduction implies a ResNet


def test_the_model_section_is_a_spec_whose_head_follows_the_data_set():
    config = load_config(None, {"model.arch": "resnet", "data.dataset": "cifar100"})
    assert isinstance(config.model, ModelSpec) and config.model.num_classes == 100
    assert config.model_spec() == ModelSpec("resnet", 20, num_classes=100)
    assert list(config.to_dict()["model"]) == ["arch", "depth", "expansion", "reduction", "reduction_mode",
                                               "shortcut_rule"]
    assert from_dict(yaml.safe_load(dump_yaml(config))).to_dict() == config.to_dict()
    with pytest.raises(UsageError, match="unknown key.s. model.num_classes; valid model keys: arch, depth, "
                                         "expansion, reduction, reduction_mode, shortcut_rule"):
        from_dict({"model": {"num_classes": 100}})
    with pytest.raises(UsageError, match="shiftresnet takes --expansion, not --reduction"):
        from_dict({"model": {"reduction": 2}})


@pytest.mark.parametrize("folder", sorted(p.parent for p in RESULTS.glob("*/config.yaml")), ids=lambda p: p.name)
def test_the_committed_runs_configs_still_load(folder):
    """config.yaml files written by earlier versions (six model keys, expansion as written): every value
    they hold reads back as written; keys added since take their defaults."""
    data = yaml.safe_load((folder / "config.yaml").read_text())
    config = from_dict(data).to_dict()
    assert {section: {key: config[section][key] for key in values} for section, values in data.items()} == data
    assert set(config["model"]) == set(data["model"])
    assert from_dict(data).model_spec().arch == data["model"]["arch"]


def test_an_old_config_with_an_unset_expansion_keeps_comparing_equal():
    """A run saved ``expansion: null``: loading must not rewrite it as 1.0, or --resume would see a change."""
    data = Config().to_dict()
    data["model"].update(arch="shiftresnet", expansion=None)
    assert from_dict(data).to_dict()["model"]["expansion"] is None


def test_one_check_for_unknown_keys():
    check_known_keys({"lr": 1}, ["lr", "momentum"], "key(s)")
    with pytest.raises(ValueError, match=r"^unknown option\(s\) 3, b, x{37}\.\.\.; valid: a$"):
        check_known_keys({"b": 1, "x" * 50: 2, 3: 3}, ["a"], "option(s)")


@pytest.mark.parametrize("command,flag,choices", [
    (["bench", "train"], "--amp", AMP_MODES), (["bench", "train"], "--device", DEVICES),
    (["bench", "train"], "--shift-impl", SHIFT_IMPLS),
])
def test_the_command_line_lists_the_choices_from_their_home(command, flag, choices):
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "300"})
    line = next(line for line in result.output.splitlines() if flag in line)
    assert all(choice in line for choice in choices), line


def test_a_bad_choice_is_one_line_naming_the_choices():
    result = runner.invoke(app, ["bench", "train", "--amp", "fp8"])
    assert result.exit_code == 2
    assert stderr_of(result).strip() == "error: --amp must be off, bf16 or fp16, got 'fp8'"
