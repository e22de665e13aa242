"""Fixes from a hostile-user review: each test names the command that misbehaved and what it does now."""

from __future__ import annotations

import yaml
from typer.testing import CliRunner

from shiftnet.cli import app
from shiftnet.config import load_config

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
