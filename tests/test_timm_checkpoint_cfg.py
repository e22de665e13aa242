"""timm and a checkpoint's preprocessing; the timm-script runner's refusal of a missing script."""

from __future__ import annotations

import subprocess
import sys

import pytest

from .helpers import train_tiny_run

timm = pytest.importorskip("timm")


def test_checkpoint_cfg_gives_timm_the_statistics_the_run_was_trained_with(tmp_path, monkeypatch):
    from timm.data import resolve_data_config

    import shiftnet.timm_models  # noqa: F401
    from shiftnet.timm_models import checkpoint_cfg

    out = train_tiny_run(tmp_path, monkeypatch, "--depth", "20", "--expansion", "1", "--set",
                         "data.normalization=true")
    weights = out / "final.safetensors"
    truth = shiftnet.load_model(out).pretrained_cfg
    assert truth["std"] != (0.2023, 0.1994, 0.201)  # the data set's own statistics, not the seed's
    plain = timm.create_model("shiftresnet20_e1", checkpoint_path=str(weights))
    assert resolve_data_config({}, model=plain)["std"] == (0.2023, 0.1994, 0.201)  # timm cannot know: why the overlay
    model = timm.create_model("shiftresnet20_e1", checkpoint_path=str(weights),
                              pretrained_cfg_overlay=checkpoint_cfg(weights))
    config = resolve_data_config({}, model=model)
    assert (config["mean"], config["std"]) == (truth["mean"], truth["std"])


def test_runner_refuses_a_missing_script_in_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "shiftnet.timm_script", str(tmp_path / "validate.py"), "--model", "x"],
                          capture_output=True, text=True)
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1 and "not in its pip package" in done.stderr
