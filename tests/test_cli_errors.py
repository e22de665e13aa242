"""The one-line contract for bad input: command-line parsing, config values, model size, strict JSON,
and no stray stderr lines from progress bars (bench flags: test_bench.py; plot inputs: test_plot.py;
disk full and file modes: test_fileio.py)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from shiftnet.cli import app
from shiftnet.cli.common import strict_json
from shiftnet.config import load_config
from shiftnet.errors import UsageError
from shiftnet.models import ModelSpec, count_params, create_model
from shiftnet.models.spec import MAX_PARAMS

from .conftest import stderr_of

runner = CliRunner()


def _one_line(result) -> str:
    err = stderr_of(result)
    assert result.exit_code == 2, (result.exit_code, err, result.output)
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def _commands(group, path=()):
    """Every command of the CLI as its argument path, found by walking Click's tree."""
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            yield from _commands(command, path + (name,))
        else:
            yield path + (name,)


COMMANDS = sorted(_commands(typer.main.get_command(app)))


def test_the_walk_finds_every_command():
    assert {("train",), ("eval",), ("params",), ("convert",), ("bench", "loader"), ("download", "cifar10"),
            ("plot", "curves")} <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_an_unknown_flag_is_one_line_exit_2(command):
    line = _one_line(runner.invoke(app, [*command, "--no-such-flag"]))
    assert "--no-such-flag" in line and f"shiftnet {' '.join(command)} --help" in line


def test_bad_values_and_commands_are_one_line():
    assert "'--depth'" in _one_line(runner.invoke(app, ["params", "--depth", "abc"]))
    assert "No such command 'nope'" in _one_line(runner.invoke(app, ["nope"]))
    assert "Missing argument" in _one_line(runner.invoke(app, ["eval"]))
    help_text = runner.invoke(app, ["bench"])  # a group alone still shows its help
    assert "loader" in help_text.output and stderr_of(help_text) == ""


def test_a_real_process_prints_one_line_and_no_progress_residue(tmp_path):
    """Real stderr (a pipe, not a terminal): the usage error is one line; a bench run that drew a
    progress bar leaves nothing on stderr (Rich used to print an empty line when it stopped)."""
    bad = subprocess.run([sys.executable, "-m", "shiftnet", "train", "--bogus"], capture_output=True, text=True,
                         timeout=300, cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and bad.stderr.startswith("error: No such option")
    ok = subprocess.run([sys.executable, "-m", "shiftnet", "bench", "shift", "--shape", "1,9,4,4", "--impl", "torch",
                         "--repeats", "1", "--device", "cpu", "--json"], capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr
    assert ok.stderr == ""
    json.loads(ok.stdout, parse_constant=lambda name: pytest.fail(f"{name} in --json output"))


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("text,message", [
    ("data: {batch_size: true}", "batch_size must be an integer from 1 to 1048576, got the boolean true"),
    ("data: {eval_batch_size: 2.5}", "eval_batch_size must be an integer"),
    ("optim: {weight_decay: .inf}", "weight_decay must be a finite number in [0, 1], got inf"),
    ("optim: {lr: .nan}", "lr must be a finite number in (0, 100], got nan"),
    ("optim: {lr: 1e300}", "lr must be a finite number in (0, 100], got 1e+300"),
    ("optim: {lr: 1e-3, weight_decay: 5E-4, epochs: 1e1}", "epochs must be an integer from 1 to 100000, got 10.0"),
    ("optim: {momentum: true}", "momentum must be a finite number in [0, 1), got the boolean true"),
    ("optim: {epochs: 1.0e+30}", "epochs must be an integer from 1 to 100000"),
    ("optim: {milestones: [true]}", "milestones must be a list of epoch numbers"),
    ("optim: {nesterov: 'yes'}", "nesterov must be true or false, got 'yes'"),
    ("run: {seed: 1180591620717411303424}", "seed must be an integer from 0 to 9223372036854775807, "
                                           "got an integer of about 22 digits"),
    ("run: {compile: 1}", "compile must be true or false, got 1"),
    ("data: {dataset: [1, 2]}", "dataset must be a string, got [1, 2]"),
    ("extends: [a]", "extends must be a file name"),
    ("model: {depth: true}", "depth must be 6n+2"),
    ("model: {expansion: .inf}", "expansion must be a positive number, got inf"),
    ("model: {expansion: 1.0e+9}", "more than the 100 M this tool builds"),
    ("model: {arch: resnet, reduction: 1.0e-9}", "more than the 100 M this tool builds"),
    ("data:\n  ? " + "x" * 5000 + "\n  : 1", "unknown key(s) data.xxxxxxxxxx"),
    ("run: {seed: " + "9" * 5000 + "}", "holds a value that cannot be read"),
    ("a: &a [1, 2]\nb: &b [*a, *a]\nc: [*b, *b]\n", "alias *a is not allowed"),
    ("data: " + "[" * 20000 + "]" * 20000, "nested too deeply"),
])
def test_bad_config_values_are_refused_up_front(tmp_path, text, message):
    with pytest.raises(UsageError) as caught:
        load_config(_config(tmp_path, text))
    assert message in str(caught.value) and len(str(caught.value)) < 400 and "\n" not in str(caught.value)


def test_billion_laughs_and_huge_files_are_refused_before_expanding(tmp_path):
    laughs = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    laughs += [f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 9) + "]" for i in range(8)]
    with pytest.raises(UsageError, match="alias \\*a is not allowed"):
        load_config(_config(tmp_path, "\n".join(laughs)))
    with pytest.raises(UsageError, match="larger than 1 MiB"):
        load_config(_config(tmp_path, "# pad\n" * 200_000))


def test_a_huge_string_value_is_not_repeated_in_the_message(tmp_path):
    with pytest.raises(UsageError) as caught:
        load_config(_config(tmp_path, "data: {dataset: " + "y" * 100_000 + "}"))
    assert "unknown dataset 'yyyy" in str(caught.value) and len(str(caught.value)) < 200


@pytest.mark.parametrize("value,expected", [("true", "true"), ("'true'", "true"), ("false", "seed"), ("seed", "seed")])
def test_normalization_true_as_the_readme_writes_it(tmp_path, value, expected):
    assert load_config(_config(tmp_path, f"data: {{normalization: {value}}}")).data.normalization == expected


def test_cli_numbers_that_overflow_are_refused_before_a_run_folder_exists(tmp_path):
    for flags, message in ((["--lr", "1e300"], "lr must be a finite number"),
                           (["--seed", str(2**70)], "seed must be an integer from 0"),
                           (["--batch-size", str(2**40)], "batch_size must be an integer"),
                           (["--expansion", "1e9"], "more than the 100 M")):
        line = _one_line(runner.invoke(app, ["train", *flags, "--out", str(tmp_path / "run")]))
        assert message in line
        assert not (tmp_path / "run").exists()
    assert "more than the 100 M" in _one_line(runner.invoke(app, ["params", "--depth", "110", "--expansion", "1e9"]))


def test_parameter_count_is_the_built_models_and_the_limit_needs_no_build():
    specs = (ModelSpec("shiftresnet", 20, expansion=3.0), ModelSpec("shiftresnet", 56, expansion=9.5, num_classes=100),
             ModelSpec("resnet", 110), ModelSpec("resnet", 20, reduction=2.8),
             ModelSpec("resnet", 56, reduction=3.3, shortcut_rule="legacy"),
             ModelSpec("resnet", 20, reduction=4.0, reduction_mode="net"),
             ModelSpec("depthwiseresnet", 26, reduction=2.0, num_classes=100))
    for spec in specs:
        spec = spec.validated()
        assert spec.parameter_count() == count_params(create_model(spec)), spec
    # the paper's largest model is far inside the limit; these are refused from the spec alone
    assert ModelSpec("shiftresnet", 110, expansion=9.0).validated().parameter_count() < MAX_PARAMS / 30
    for spec in (ModelSpec("shiftresnet", 20, expansion=1e12), ModelSpec("resnet", 6 * 10**40 + 2),
                 ModelSpec("resnet", 20, num_classes=10**9),
                 ModelSpec("resnet", 20, reduction=1e-300, reduction_mode="net")):
        with pytest.raises(ValueError, match="more than the 100 M this tool builds"):
            spec.validated()


def test_strict_json_has_no_nan():
    text = strict_json({"a": float("nan"), "b": [1.5, float("inf"), {"c": -math.inf}], "d": (2, "x")})
    parsed = json.loads(text, parse_constant=lambda name: pytest.fail(name))
    assert parsed == {"a": None, "b": [1.5, None, {"c": None}], "d": [2, "x"]}


def test_ctrl_c_while_the_command_line_is_parsed_exits_130(monkeypatch, capfd):
    from typer.core import TyperGroup

    def interrupted(self, ctx, args):
        raise KeyboardInterrupt

    monkeypatch.setattr(TyperGroup, "parse_args", interrupted)
    with pytest.raises(SystemExit) as exit_info:
        app(["params"], prog_name="shiftnet")
    assert exit_info.value.code == 130
    assert capfd.readouterr().err.strip().splitlines()[-1] == "error: interrupted (Ctrl-C)"


@pytest.mark.parametrize("args", [["params"], ["params", "--json"], ["--help"], ["--version"]], ids=" ".join)
def test_a_reader_that_leaves_ends_the_command_quietly(args):
    """``shiftnet params | head``: stdout's reader is gone before the command writes (a real pipe whose
    read end is closed), through Rich (the table, help) and through print (JSON, the version)."""
    proc = subprocess.Popen([sys.executable, "-m", "shiftnet", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=300) == 1 and err == "", err
