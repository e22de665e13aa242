"""``shiftnet params`` through Typer's CliRunner and as a real process."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from shiftnet.cli import app
from shiftnet.published import SEED_C10_NOV2017, matches_readme

from .conftest import stderr_of

runner = CliRunner()
ROW_KEYS = ["name", "arch", "depth", "expansion", "reduction", "reduction_mode", "shortcut_rule", "num_classes",
            "params", "params_m", "reduction_factor", "macs"]


def test_default_table_reproduces_every_seed_cell():
    result = runner.invoke(app, ["params"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    assert "✗" not in result.output
    # shift params + reduction (24), reduced-ResNet reduction (12), original params + reduction (6), legend (1)
    assert result.output.count("✓") == 24 + 12 + 6 + 1
    for number in ("34,906", "95,642", "1,762,970", "35,946", "1,823,006", "1,730,714"):
        assert number in result.output


def test_default_json_rows():
    result = runner.invoke(app, ["params", "--json"])
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert len(rows) == 27 and all(list(row) == ROW_KEYS for row in rows)
    by_name = {row["name"]: row for row in rows}
    assert by_name["shiftresnet20_e3"]["params"] == 95_642 and by_name["shiftresnet20_e3"]["params_m"] == 0.10
    legacy = by_name["resnet56_r16_block_legacy"]
    assert legacy["params"] == 104_088 and legacy["shortcut_rule"] == "legacy" and legacy["reduction"] == 16.0
    # the 15 Params and Reduction cells of the seed table and its 12 parenthesised ResNet reductions
    for seed in SEED_C10_NOV2017:
        shift = by_name[f"shiftresnet{seed.depth}_e{seed.expansion}"]
        assert matches_readme(shift["params"] / 1e6, seed.params_m)
        assert matches_readme(shift["reduction_factor"], seed.shift_reduction)
        reduced = [row for row in rows if row["arch"] == "resnet" and row["depth"] == seed.depth
                   and (row["reduction"], row["shortcut_rule"]) in ((seed.r, "legacy"), (None, "current"))]
        assert matches_readme(reduced[0]["reduction_factor"], seed.resnet_reduction)


def test_hundred_classes_are_true_counts_with_a_note():
    result = runner.invoke(app, ["params", "--classes", "100", "--json"])
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["shiftresnet20_e1_c100"]["params"] == 40_756
    assert round(rows["shiftresnet20_e1_c100"]["reduction_factor"], 3) == 6.829
    table = runner.invoke(app, ["params", "--classes", "100"], env={"COLUMNS": "120"})
    assert "reused the 10-class" in table.output


def test_dataset_names_the_head_as_classes_does():
    by_classes = runner.invoke(app, ["params", "--classes", "100", "--json"])
    by_dataset = runner.invoke(app, ["params", "--dataset", "cifar100", "--json"])
    assert by_classes.exit_code == by_dataset.exit_code == 0 and by_classes.stdout == by_dataset.stdout
    one = runner.invoke(app, ["params", "--depth", "56", "--dataset", "cifar100", "--json"])
    assert json.loads(one.stdout)[0]["name"] == "shiftresnet56_e1_c100"


def test_single_model_flags():
    result = runner.invoke(app, ["params", "--expansion", "3", "--depth", "110", "--json"])
    (row,) = json.loads(result.stdout)
    assert row["arch"] == "shiftresnet" and row["params"] == 592_922 and row["macs"] == 87_212_672
    result = runner.invoke(app, ["params", "--reduction", "2.8", "--json"])
    (row,) = json.loads(result.stdout)
    assert row["params"] == 96_206 and round(row["reduction_factor"], 2) == 2.83
    result = runner.invoke(app, ["params", "--arch", "shiftresnet56", "--json"])
    assert json.loads(result.stdout)[0]["params"] == 102_106
    result = runner.invoke(app, ["params", "--arch", "resnet", "--depth", "20", "--reduction", "2.9",
                                 "--reduction-mode", "net", "--json"])
    assert json.loads(result.stdout)[0]["reduction_mode"] == "net"
    table = runner.invoke(app, ["params", "--depth", "56", "--reduction", "3.3", "--shortcut-rule", "legacy"])
    assert table.exit_code == 0 and "298,794" in table.output


@pytest.mark.parametrize("args,message", [
    (["--depth", "21"], "depth must be 6n+2"),
    (["--expansion", "0"], "expansion must be a positive number"),
    (["--arch", "foo"], "unknown arch 'foo'"),
    (["--arch", "resnet", "--expansion", "3"], "shiftresnet only"),
    (["--reduction-mode", "depthwise", "--reduction", "2"], "reduction_mode must be one of block, net"),
    (["--classes", "7"], "--classes must be 10 or 100"),
    (["--dataset", "svhn"], "--dataset must be cifar10 or cifar100, got 'svhn'"),
    (["--dataset", "cifar100", "--classes", "10"], "--classes 10 and --dataset cifar100 (100 classes) disagree"),
    (["--arch", "resnet20", "--depth", "56"], "disagree"),
])
def test_bad_flags_exit_2_with_one_line(args, message):
    result = runner.invoke(app, ["params", *args])
    assert result.exit_code == 2
    err = stderr_of(result)
    assert message in err and err.startswith("error: ")
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_real_process_exit_codes_and_debug():
    cmd = [sys.executable, "-m", "shiftnet", "params", "--depth", "21"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        "error: depth must be 6n+2 with n >= 1 (8, 14, 20, 26, ..., 56, 110), got 21"]
    debug = subprocess.run([sys.executable, "-m", "shiftnet", "--debug", "params", "--depth", "21"],
                           capture_output=True, text=True)
    assert debug.returncode != 0 and "Traceback" in debug.stderr


def test_help_lists_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0 and "params" in result.output
    assert runner.invoke(app, ["params", "--help"]).exit_code == 0
