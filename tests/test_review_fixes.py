"""Fixes from a hostile-user review: each test names the command that misbehaved and what it does now."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from typer.testing import CliRunner

from shiftnet.cli import app
from shiftnet.config import load_config
from shiftnet.errors import UsageError

from .conftest import stderr_of
from .runs import QUICK, data_dir, one_line, one_thread  # noqa: F401 - fixtures

runner = CliRunner()


def test_set_none_unsets_a_key_the_config_file_gives(tmp_path):
    """``--set run.limit_batches=none`` over a file's ``limit_batches: 2`` trains every batch (it was ignored)."""
    path = tmp_path / "lim.yaml"
    path.write_text("run:\n  limit_batches: 2\ndata:\n  data_dir: /somewhere\n")
    assert load_config(path).run.limit_batches == 2
    config = load_config(path, {"run.limit_batches": None, "data.data_dir": None})
    assert config.run.limit_batches is None and config.data.data_dir is None


def test_set_none_through_the_cli_and_on_resume(data_dir, tmp_path):
    limited = tmp_path / "lim.yaml"
    limited.write_text("run:\n  limit_batches: 1\n")
    out = tmp_path / "run"
    args = ["train", *QUICK[:-2], "--config", str(limited), "--out", str(out)]
    first = runner.invoke(app, [*args, "--set", "run.limit_batches=none"])
    assert first.exit_code == 0, stderr_of(first)
    assert yaml.safe_load((out / "config.yaml").read_text())["run"]["limit_batches"] is None
    capped = tmp_path / "capped"
    assert runner.invoke(app, [*args[:-1], str(capped)]).exit_code == 0
    # a resumed run's saved limit is a setting like any other: unsetting it is a change, refused
    err = one_line(runner.invoke(app, ["train", "--out", str(capped), "--resume", "--set", "run.limit_batches=none"]),
                   2)
    assert "run.limit_batches: 1 -> None" in err


def _exported(args: list[str]):
    return runner.invoke(app, ["export", *args, "--images", "4", "--data-dir", "/nonexistent-data"])


@pytest.fixture
def weights(tmp_path) -> Path:
    from shiftnet.checkpoint import save_weights
    from shiftnet.models import ModelSpec, create_model

    spec = ModelSpec("shiftresnet", 8, expansion=1.0)
    path = tmp_path / "weights.safetensors"
    save_weights(path, create_model(spec), spec, dataset="cifar10")
    return path


def test_export_never_writes_over_a_file(weights, tmp_path):
    """A second export of the same checkpoint, or an --out that exists, is refused; the file is untouched."""
    mine = tmp_path / "mine.pt2"
    mine.write_bytes(b"the user's file")
    err = one_line(_exported([str(weights), "--format", "pt2", "--out", str(mine)]), 2)
    assert f"{mine} already exists; give another --out or remove the file" in err
    assert mine.read_bytes() == b"the user's file"
    first = _exported([str(weights), "--format", "pt2"])
    assert first.exit_code == 0, stderr_of(first)
    written = tmp_path / "weights.pt2"
    before = written.read_bytes()
    assert "already exists" in one_line(_exported([str(weights), "--format", "pt2"]), 2)
    assert written.read_bytes() == before


@pytest.mark.parametrize("fmt, name, suffixes", [("onnx", "m.pt2", ".onnx"), ("pt2", "m.onnx", ".pt2"),
                                                 ("torchscript", "m.onnx", ".pt or .torchscript"),
                                                 ("pt2", "m", ".pt2")])
def test_export_out_suffix_must_be_the_formats(weights, tmp_path, fmt, name, suffixes):
    err = one_line(_exported([str(weights), "--format", fmt, "--out", str(tmp_path / name)]), 2)
    assert f"{fmt} files end in {suffixes}" in err and not (tmp_path / name).exists()


def test_nesterov_without_momentum_is_refused_before_anything_runs(tmp_path):
    """torch's SGD refuses Nesterov with zero momentum only once the run has started, in its own words."""
    result = runner.invoke(app, ["train", "--nesterov", "--momentum", "0", "--out", str(tmp_path / "never")])
    err = one_line(result, 2)
    assert "optim.nesterov (--nesterov) needs momentum: optim.momentum (--momentum) is 0" in err
    assert not (tmp_path / "never").exists()
    with pytest.raises(UsageError, match="optim.nesterov"):
        load_config(None, {"optim.nesterov": True, "optim.momentum": 0.0})


def test_plain_resume_reads_the_default_folders_saved_config(data_dir, tmp_path, monkeypatch):
    """``train --resume`` in runs/<model>_<dataset>_s<seed> reuses its config.yaml as --name X --resume does:
    a flag left out (here --lr, --epochs, --limit-batches) takes the saved value, not the default."""
    monkeypatch.chdir(tmp_path)
    model = ["--arch", "shiftresnet8", "--expansion", "2", "--seed", "3", "--device", "cpu"]
    first = runner.invoke(app, ["train", *model, "--batch-size", "16", "--epochs", "1", "--limit-batches", "1",
                                "--lr", "0.05"])
    assert first.exit_code == 0, stderr_of(first)
    folder = tmp_path / "runs" / "shiftresnet8_e2_cifar10_s3"
    saved = (folder / "config.yaml").read_text()
    again = runner.invoke(app, ["train", *model, "--resume"])
    assert again.exit_code == 0, stderr_of(again)
    assert (folder / "config.yaml").read_text() == saved and yaml.safe_load(saved)["optim"]["lr"] == 0.05
    changed = one_line(runner.invoke(app, ["train", *model, "--resume", "--lr", "0.1"]), 2)
    assert "optim.lr: 0.05 -> 0.1" in changed


@pytest.mark.parametrize("kwargs", [{"depth": 56}, {"arch": "resnet"}, {"arch": "resnet", "depth": 20}])
def test_hub_entry_refuses_arch_and_depth(kwargs):
    """The entry's name fixes both; a keyword for either was Python's "got multiple values" TypeError."""
    root = Path(__file__).resolve().parents[1]
    with pytest.raises(ValueError, match=r"torch.hub entry shiftresnet20 fixes arch='shiftresnet' and depth=20"):
        torch.hub.load(str(root), "shiftresnet20", source="local", trust_repo=True, **kwargs)
