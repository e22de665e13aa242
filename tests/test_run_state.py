"""last.pt across versions and damage, and the run folder's other one-line errors.

A run started by an earlier version (the first ``shiftnet-run-1`` schema, without the keys added
since) must resume bit for bit; a damaged or foreign last.pt, a run folder path that is a file, a
run name that leaves runs/ are each one line on stderr, exit 2, with nothing written.
"""

from __future__ import annotations

import os
import shutil
import signal

import pytest
import torch
from typer.testing import CliRunner

from shiftnet.cli import app
from shiftnet.engine.train import Trainer
from shiftnet.errors import Interrupted
from shiftnet.models import ModelSpec, create_model

from . import run_worker
from .conftest import stderr_of
from .helpers import make_ready_cifar10
from .runs import QUICK, assert_same_final_state, data_dir, listing, one_line, one_thread, tiny_config  # noqa: F401

# last.pt as the code of commit 9635d3b writes it (the 160-epoch reproduction run uses that code):
# its keys and its config's keys, frozen here so that a later change to either cannot hide.
FIRST_SCHEMA = ("format", "config", "model", "optimizer", "scaler", "epoch", "batch", "step", "sums", "best_acc",
                "best_epoch", "history", "rng")
FIRST_CONFIG = {
    "model": ("arch", "depth", "expansion", "reduction", "reduction_mode", "shortcut_rule"),
    "data": ("dataset", "data_dir", "batch_size", "eval_batch_size", "normalization"),
    "optim": ("lr", "momentum", "weight_decay", "nesterov", "epochs", "schedule", "milestones", "gamma",
              "reset_momentum_each_epoch"),
    "run": ("seed", "device", "amp", "channels_last", "compile", "deterministic", "sync_bn", "limit_batches",
            "select_on_test", "bn_weight_init", "shift_impl", "name", "out"),
}


def test_a_last_pt_of_the_first_schema_resumes_bit_exact(data_dir, tmp_path):
    config = tiny_config(data_dir)
    Trainer(config, tmp_path / "full", reporter=run_worker.Quiet()).run()

    def stop(epoch, batch, step):
        if (epoch, batch) == (1, 2):
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(Interrupted):
        Trainer(config, tmp_path / "old", reporter=run_worker.Quiet(stop)).run()
    state = torch.load(tmp_path / "old" / "last.pt", weights_only=True)
    old = {key: state[key] for key in FIRST_SCHEMA}
    old["config"] = {section: {k: state["config"][section][k] for k in keys} for section, keys in FIRST_CONFIG.items()}
    torch.save(old, tmp_path / "old" / "last.pt")  # as that code wrote it: torch.save straight to the file
    result = CliRunner().invoke(app, ["train", "--out", str(tmp_path / "old"), "--resume"])
    assert result.exit_code == 0, stderr_of(result)
    assert "resumed" in result.output and "epoch 2, batch 2" in result.output
    assert_same_final_state(tmp_path / "full", tmp_path / "old")


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished one-epoch run (through the CLI, which also says what --limit-batches cut)."""
    root = tmp_path_factory.mktemp("finished")
    data = make_ready_cifar10(root / "data")
    result = CliRunner().invoke(app, ["train", *QUICK, "--data-dir", str(data), "--out", str(root / "run")])
    assert result.exit_code == 0, stderr_of(result)
    assert "--limit-batches 1: each epoch trains on at most 1 batches and tests on at most 1 x 1000 images: the " \
           "test set is cut too" in result.output
    return root / "run"


def _other_model(state: dict) -> dict:
    return {**state, "model": create_model(ModelSpec(arch="shiftresnet", depth=14, expansion=2.0)).state_dict()}


def _wider_model(state: dict) -> dict:
    return {**state, "model": create_model(ModelSpec(arch="shiftresnet", depth=8, expansion=3.0)).state_dict()}


DAMAGE = [
    ("empty", lambda path, state: path.write_bytes(b""), "is empty (0 bytes)"),
    ("garbage", lambda path, state: path.write_bytes(b"not a checkpoint at all"), "not a readable shiftnet run state"),
    ("truncated", lambda path, state: path.write_bytes(path.read_bytes()[:3000]), "not a readable shiftnet run state"),
    ("a list", lambda path, state: torch.save([1, 2, 3], path), "(a list, not a dict)"),
    ("no model", lambda path, state: torch.save({k: v for k, v in state.items() if k != "model"}, path), "no 'model'"),
    ("other format", lambda path, state: torch.save({**state, "format": "x"}, path), "format 'x'"),
    ("bad history", lambda path, state: torch.save({**state, "history": ["x"]}, path), "malformed 'history'"),
    ("bad rng", lambda path, state: torch.save({**state, "rng": {"torch": torch.zeros(3)}}, path), "malformed 'rng'"),
    ("bad epoch", lambda path, state: torch.save({**state, "epoch": "1"}, path), "malformed 'epoch'"),
    ("other depth", lambda path, state: torch.save(_other_model(state), path),
     "holds the weights of another model than shiftresnet8_e2 (0 missing,"),
    ("other width", lambda path, state: torch.save(_wider_model(state), path),
     "of another shape; layer1.0.bn1.bias is (48,), not (32,))"),
]


@pytest.mark.parametrize("damage,message", [(d, m) for _, d, m in DAMAGE], ids=[i for i, _, _ in DAMAGE])
def test_a_damaged_or_foreign_last_pt_is_one_line(damage, message, finished, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(finished, out)
    damage(out / "last.pt", torch.load(out / "last.pt", weights_only=True))
    before = listing(out)
    err = one_line(CliRunner().invoke(app, ["train", "--out", str(out), "--resume"]), 2)
    assert message in err and str(out / "last.pt") in err
    assert listing(out) == before


def test_a_run_folder_path_that_is_a_file(data_dir, tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("mine")
    for out in (target, target / "run"):
        for extra in ([], ["--resume"]):
            err = one_line(CliRunner().invoke(app, ["train", *QUICK, "--out", str(out), *extra]), 2)
            assert f"{target} is a file" in err
    assert target.read_text() == "mine"


@pytest.mark.parametrize("name", ["../escaped", "/abs/path", "a/b", "..", "."])
def test_a_run_name_stays_inside_runs(name, data_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    err = one_line(CliRunner().invoke(app, ["train", *QUICK, "--name", name]), 2)
    assert "is not a run name" in err and "--out" in err
    config = tmp_path / "named.yaml"
    config.write_text(f"run:\n  name: '{name}'\n")
    err = one_line(CliRunner().invoke(app, ["train", *QUICK, "--config", str(config)]), 2)
    assert "run.name" in err and "is not a run name" in err
    config.unlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == before
