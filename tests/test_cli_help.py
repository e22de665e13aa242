"""A fast, conventional command line (issue 13): ``--help`` and ``--version`` import no torch (checked in
real processes with ``python -X importtime``), help shows defaults one way, Typer's ``[default: X]``,
generated from where the defaults live, and the choices help shows equal their torch-importing homes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from shiftnet.cli import app
from shiftnet.cli import choices as shown
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
                        "--shift-impl": run.shift_impl, "--depth": shown.DEFAULT_DEPTH,
                        "--arch": shown.DEFAULT_ARCH}.items():
        assert f"[default: {value}]" in lines[flag], lines[flag]
    assert "[default: no-wandb]" in lines["--wandb"] and "[default: no-nesterov]" in lines["--nesterov"]


def test_the_choices_help_shows_are_their_homes():
    from shiftnet.bench.shift import SHIFT_BENCH_CONTENDERS
    from shiftnet.data.datasets import DATASETS
    from shiftnet.export import FORMATS
    from shiftnet.kernels import FIXED_SHIFT_IMPLS, SHIFT_IMPLS
    from shiftnet.models import DEFAULT_ARCH, REDUCTION_MODES, SHORTCUT_RULES, ModelSpec, arch_names
    from shiftnet.models.knobs import EXPANSION

    default = ModelSpec()
    assert shown.ARCHS == arch_names() and shown.DEFAULT_ARCH == DEFAULT_ARCH == default.arch
    assert shown.DEFAULT_DEPTH == default.depth and shown.DEFAULT_EXPANSION == EXPANSION.default
    assert shown.REDUCTION_MODES == REDUCTION_MODES and default.reduction_mode == REDUCTION_MODES[0]
    assert shown.SHORTCUT_RULES == SHORTCUT_RULES and default.shortcut_rule == SHORTCUT_RULES[0]
    assert (shown.SHIFT_IMPLS, shown.FIXED_SHIFT_IMPLS) == (SHIFT_IMPLS, FIXED_SHIFT_IMPLS)
    assert shown.DATASET_CLASSES == {name: info.num_classes for name, info in DATASETS.items()}
    assert shown.SHIFT_BENCH_CONTENDERS == SHIFT_BENCH_CONTENDERS and shown.EXPORT_FORMATS == tuple(FORMATS)
