"""``bench train``'s shift-cost column: each ShiftResNet beside its identity-shift twin (never timed in a test)."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from shiftnet.bench.train import has_shift, without_shift
from shiftnet.cli import app
from shiftnet.kernels import Shift
from shiftnet.models import create_model

from .conftest import stderr_of

runner = CliRunner()


def test_twin_is_the_same_network_without_its_shifts():
    model = create_model("shiftresnet20", expansion=1)
    shifts = sum(isinstance(m, Shift) for m in model.modules())
    state = {k: v.clone() for k, v in model.state_dict().items()}
    twin = without_shift(model)
    assert shifts == 9 and not has_shift(twin)
    assert {k: v.shape for k, v in twin.state_dict().items()} == {k: v.shape for k, v in state.items()}
    assert all(torch.equal(twin.state_dict()[k], v) for k, v in state.items())
    # a shift moves data: with it gone, the output differs (so the twin really skips it)
    x = torch.randn(2, 3, 32, 32)
    reference = create_model("shiftresnet20", expansion=1)
    reference.load_state_dict(state)
    assert not torch.allclose(twin.eval()(x), reference.eval()(x))


def test_bench_train_reports_the_shift_cost_of_shift_models_only():
    result = runner.invoke(app, ["bench", "train", "-m", "resnet20", "-m", "shiftresnet20:1", "--steps", "1",
                                 "--warmup", "0", "--batch-size", "4", "--eval-batch-size", "4", "--json"])
    assert result.exit_code == 0, stderr_of(result)
    rows = json.loads(result.stdout)["rows"]
    assert [(r["model"], r["shift"]) for r in rows] == [
        ("resnet20", "shift"), ("shiftresnet20_e1", "shift"), ("shiftresnet20_e1", "identity")]
    assert "shift_cost" not in rows[0] and "shift_cost" not in rows[2]
    assert rows[1]["shift_cost"] == rows[1]["train_step_ms"] / rows[2]["train_step_ms"]
    assert rows[1]["params"] == rows[2]["params"]
    table = runner.invoke(app, ["bench", "train", "-m", "shiftresnet20:1", "--steps", "1", "--warmup", "0",
                                "--batch-size", "4", "--eval-batch-size", "4"])
    assert table.exit_code == 0 and "twin" in table.stdout and "shift cost" in table.stdout
    plain = runner.invoke(app, ["bench", "train", "-m", "shiftresnet20:1", "--no-shift-cost", "--steps", "1",
                                "--warmup", "0", "--batch-size", "4", "--eval-batch-size", "4", "--json"])
    assert [r["shift"] for r in json.loads(plain.stdout)["rows"]] == ["shift"]


def test_setups_time_every_model_in_each_setup_in_one_run():
    from shiftnet.bench.train import Setup, parse_setup

    assert parse_setup("compile+cl") == Setup(channels_last=True, compile=True, shift_impl=None)
    assert parse_setup("cl+conv") == Setup(True, False, "conv") and parse_setup("eager") == Setup()
    assert parse_setup("compile+cl+conv").label == "compile+cl+conv"
    result = runner.invoke(app, ["bench", "train", "-m", "resnet8", "-m", "shiftresnet8:1", "--setup", "eager",
                                 "--setup", "cl+conv", "--no-shift-cost", "--steps", "1", "--warmup", "0",
                                 "--batch-size", "4", "--eval-batch-size", "4", "--json"])
    assert result.exit_code == 0, stderr_of(result)
    rows = json.loads(result.stdout)["rows"]
    assert [(r["model"], r["setup"], r["channels_last"], r["shift_impl"]) for r in rows] == [
        ("resnet8", "eager", False, "auto"), ("resnet8", "cl+conv", True, "conv"),
        ("shiftresnet8_e1", "eager", False, "auto"), ("shiftresnet8_e1", "cl+conv", True, "conv")]


@pytest.mark.parametrize("text", ["compile+eager", "cl+conv+torch", "fast", ""])
def test_bad_setups_fail_in_one_line(text):
    result = runner.invoke(app, ["bench", "train", "--setup", text, "--steps", "1"])
    assert result.exit_code == 2 and "--setup" in stderr_of(result) and len(stderr_of(result).strip().splitlines()) == 1
