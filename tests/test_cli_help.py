"""A fast, conventional command line (issue 13): ``--help`` and ``--version`` import no torch (checked in
real processes with ``python -X importtime``), help shows defaults one way, Typer's ``[default: X]``,
generated from where the defaults live, and the choices help shows are the very objects the torch-importing
modules act on (``shiftnet/enums.py`` is their one home)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from shiftnet import enums
from shiftnet.cli import app
from shiftnet.config import DataConfig, OptimConfig, RunConfig

from .runs import REPO

runner = CliRunner()


def _commands(group, path=()):
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            yield path + (name,)
            yield from _commands(command, path + (name,))
        else:
            yield path + (name,)


COMMANDS = sorted(_commands(typer.main.get_command(app)))


def imported_modules(*args: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    """Run ``python -X importtime -m shiftnet ARGS`` in a fresh process; its result and every module it imported."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "shiftnet", *args], capture_output=True,
                          text=True, timeout=300, cwd=REPO, env={**os.environ, "COLUMNS": "120"})
    modules = [line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")]
    return proc, modules


def test_the_walk_finds_every_command_and_group():
    assert {("train",), ("params",), ("eval",), ("convert",), ("export",), ("report",), ("bench",),
            ("bench", "infer"), ("download", "checkpoints"), ("plot", "curves")} <= set(COMMANDS)


@pytest.mark.parametrize("args", [("--help",), ("--version",), *((*c, "--help") for c in COMMANDS)], ids=" ".join)
def test_help_and_version_import_no_torch(args):
    proc, modules = imported_modules(*args)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "typer" in modules, "the importtime report was not read"
    heavy = [m for m in modules if m.split(".")[0] in ("torch", "numpy", "safetensors", "torchvision")]
    assert heavy == [], heavy[:5]
    assert ("shiftnet 0.1" in proc.stdout) if args == ("--version",) else ("Usage: " in proc.stdout)


def test_a_command_still_imports_what_it_needs():
    proc, modules = imported_modules("params", "--depth", "20", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout)[0]["name"] == "shiftresnet20_e1" and "torch" in modules


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_states_defaults_one_way(command):
    """Typer's ``[default: X]`` (or ``[default: (where it comes from)]``), never a hand-typed ``(default: X)``."""
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "400"})
    assert result.exit_code == 0
    assert "(default:" not in result.output


def test_train_defaults_come_from_the_config_dataclasses():
    text = runner.invoke(app, ["train", "--help"], env={"COLUMNS": "400"}).output
    lines = {line.split()[1]: line for line in text.splitlines() if line.startswith("│ --")}
    optim, data, run = OptimConfig(), DataConfig(), RunConfig()
    for flag, value in {"--epochs": optim.epochs, "--lr": optim.lr, "--momentum": optim.momentum,
                        "--weight-decay": optim.weight_decay, "--gamma": optim.gamma, "--schedule": optim.schedule,
                        "--milestones": ",".join(map(str, optim.milestones)), "--batch-size": data.batch_size,
                        "--dataset": data.dataset, "--seed": run.seed, "--device": run.device, "--amp": run.amp,
                        "--shift-impl": run.shift_impl, "--depth": enums.DEFAULT_DEPTH,
                        "--arch": enums.DEFAULT_ARCH}.items():
        assert f"[default: {value}]" in lines[flag], lines[flag]
    assert "[default: no-wandb]" in lines["--wandb"] and "[default: no-nesterov]" in lines["--nesterov"]


def test_the_modules_that_act_on_a_choice_use_the_enumerations_themselves():
    """Identity, not equality: a module that retyped a tuple (so that the two could drift apart) fails."""
    from shiftnet import config, export, kernels, models
    from shiftnet.data.datasets import DATASETS
    from shiftnet.kernels import op
    from shiftnet.models import ModelSpec, arch_names, get_arch
    from shiftnet.models.knobs import EXPANSION

    assert kernels.SHIFT_IMPLS is op.SHIFT_IMPLS is enums.SHIFT_IMPLS
    assert kernels.FIXED_SHIFT_IMPLS is enums.FIXED_SHIFT_IMPLS
    assert models.REDUCTION_MODES is enums.REDUCTION_MODES and models.SHORTCUT_RULES is enums.SHORTCUT_RULES
    assert export.EXPORT_FORMATS is enums.EXPORT_FORMATS
    assert config.DEVICES is enums.DEVICES and config.DATASET_CLASSES is enums.DATASET_CLASSES
    assert all(config.choices()[key][0] is getattr(enums, name) for key, name in (
        ("run.amp", "AMP_MODES"), ("run.shift_impl", "SHIFT_IMPLS"), ("optim.schedule", "SCHEDULES"),
        ("data.normalization", "NORMALIZATIONS"), ("run.bn_weight_init", "BN_INITS")))
    assert get_arch("resnet").shortcut_rules is enums.SHORTCUT_RULES
    # The registry's built-in entries are the names help lists, and ModelSpec's defaults are the enumerations'.
    assert arch_names() == enums.ARCHS
    default = ModelSpec()
    assert (default.arch, default.depth, default.reduction_mode, default.shortcut_rule) == (
        enums.DEFAULT_ARCH, enums.DEFAULT_DEPTH, enums.REDUCTION_MODES[0], enums.SHORTCUT_RULES[0])
    assert ModelSpec().validated().expansion == EXPANSION.default == enums.DEFAULT_EXPANSION
    assert {name: info.num_classes for name, info in DATASETS.items()} == enums.DATASET_CLASSES

