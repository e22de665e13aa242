"""Training: files a run leaves, exact resume after Ctrl-C or a crash, guards, schedule, configs."""

from __future__ import annotations

import csv
import json
import os
import signal
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file
from typer.testing import CliRunner

from shiftnet.cli import app
from shiftnet.cli.train import PlainReporter
from shiftnet.config import OptimConfig, load_config, lr_at
from shiftnet.engine.train import Trainer
from shiftnet.errors import Interrupted, RunError, UsageError

from .conftest import stderr_of
from .helpers import make_ready_cifar10
from .run_worker import Quiet
from .runs import REPO, Lines, one_thread  # noqa: F401 - one_thread: an autouse fixture

runner = CliRunner()
TINY = ["--arch", "shiftresnet8", "--expansion", "2", "--batch-size", "16", "--device", "cpu", "--seed", "3"]


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    folder = make_ready_cifar10(tmp_path / "data")
    monkeypatch.setenv("SHIFTNET_DATA", str(folder))
    return folder


def tiny_config(tmp_path, **run):
    overrides = {"model.arch": "shiftresnet", "model.depth": 8, "model.expansion": 2.0, "data.batch_size": 16,
                 "data.eval_batch_size": 8, "optim.epochs": 3, "optim.milestones": [2], "run.device": "cpu",
                 "run.seed": 3, "data.data_dir": str(tmp_path / "data")}
    overrides.update({f"run.{k}": v for k, v in run.items()})
    return load_config(None, overrides)


def test_cli_run_leaves_every_file(data_dir, tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(app, ["train", *TINY, "--epochs", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output + stderr_of(result)
    assert {p.name for p in out.iterdir()} >= {"config.yaml", "metrics.csv", "last.pt", "final.safetensors",
                                                "best.safetensors"}
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert [r["epoch"] for r in rows] == ["0", "1"]
    assert list(rows[0]) == ["epoch", "lr", "train_loss", "train_acc", "test_loss", "test_acc", "seconds",
                             "images_per_s"]
    state = torch.load(out / "last.pt", weights_only=True)
    assert state["epoch"] == 2 and state["batch"] == 0 and "optimizer" in state and "rng" in state
    with safe_open(str(out / "final.safetensors"), "pt") as handle:
        meta = handle.metadata()
    assert json.loads(meta["spec"])["arch"] == "shiftresnet" and json.loads(meta["dataset"]) == "cifar10"
    assert json.loads(meta["epoch"]) == 1 and "test_accuracy" in meta
    assert "final test accuracy" in result.output and "selected on the test set" in result.output
    # the folder now holds a run: starting another there is refused, nothing overwritten
    before = (out / "last.pt").read_bytes()
    again = runner.invoke(app, ["train", *TINY, "--epochs", "2", "--out", str(out)])
    assert again.exit_code == 2 and "already holds a run" in stderr_of(again)
    assert (out / "last.pt").read_bytes() == before


def _weights(folder: Path) -> dict:
    return load_file(str(folder / "final.safetensors"))


def _assert_same_run(a: Path, b: Path):
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    assert (a / "metrics.csv").read_text().splitlines()[0] == (b / "metrics.csv").read_text().splitlines()[0]
    for ra, rb in zip(csv.DictReader((a / "metrics.csv").open()), csv.DictReader((b / "metrics.csv").open())):
        assert {k: v for k, v in ra.items() if k not in ("seconds", "images_per_s")} == \
               {k: v for k, v in rb.items() if k not in ("seconds", "images_per_s")}


@pytest.mark.parametrize("reset_momentum", [False, True])
def test_ctrl_c_mid_epoch_then_resume_is_bit_exact(data_dir, tmp_path, reset_momentum):
    config = tiny_config(tmp_path)
    config.optim.reset_momentum_each_epoch = reset_momentum
    Trainer(config, tmp_path / "full").run()

    def interrupt(epoch, batch, step):  # a real SIGINT to this process, as Ctrl-C sends it
        if (epoch, batch) == (1, 2):
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(Interrupted, match="interrupted at epoch 2, batch 2"):
        Trainer(config, tmp_path / "cut", reporter=Quiet(interrupt)).run()
    state = torch.load(tmp_path / "cut" / "last.pt", weights_only=True)
    assert (state["epoch"], state["batch"]) == (1, 2)
    Trainer(config, tmp_path / "cut", resume=True).run()
    _assert_same_run(tmp_path / "full", tmp_path / "cut")


def test_crash_without_saving_resumes_from_the_last_epoch_end(data_dir, tmp_path):
    config = tiny_config(tmp_path)
    Trainer(config, tmp_path / "full").run()

    def crash(epoch, batch, step):  # what kill -9 leaves: last.pt of the previous epoch end, nothing else
        if (epoch, batch) == (2, 1):
            raise SystemExit("killed")

    with pytest.raises(SystemExit):
        Trainer(config, tmp_path / "crash", reporter=Quiet(crash)).run()
    assert torch.load(tmp_path / "crash" / "last.pt", weights_only=True)["epoch"] == 2
    Trainer(config, tmp_path / "crash", resume=True).run()
    _assert_same_run(tmp_path / "full", tmp_path / "crash")


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(data_dir, tmp_path):
    config = tiny_config(tmp_path)

    def poison(epoch, batch, step):
        if (epoch, batch) == (1, 1):
            with torch.no_grad():
                trainer.model.linear.weight.fill_(float("nan"))

    trainer = Trainer(config, tmp_path / "nan", reporter=Quiet(poison))
    with pytest.raises(RunError, match="loss became nan in epoch 2"):
        trainer.run()
    state = torch.load(tmp_path / "nan" / "last.pt", weights_only=True)
    assert state["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())


def test_nan_test_loss_stops_before_the_epoch_is_saved(data_dir, tmp_path):
    """Training in train mode stays finite while the BN running statistics (used only by evaluation) are
    NaN: what an overflowing run showed at --lr 100 (test loss nan, the run finished without a word)."""
    config = tiny_config(tmp_path)

    def poison_running_stats(epoch, batch, step):
        if (epoch, batch) == (1, 3):  # after epoch 2's last training step, before its evaluation
            trainer.model.bn1.running_var.fill_(float("nan"))

    trainer = Trainer(config, tmp_path / "nan", reporter=Quiet(poison_running_stats))
    with pytest.raises(RunError, match=r"^the test loss became nan in epoch 2; stopped without saving it: .*last.pt"):
        trainer.run()
    assert torch.load(tmp_path / "nan" / "last.pt", weights_only=True)["epoch"] == 1
    assert len((tmp_path / "nan" / "metrics.csv").read_text().strip().splitlines()) == 2  # header + epoch 1


def test_resume_guards(data_dir, tmp_path):
    out = tmp_path / "r"
    result = runner.invoke(app, ["train", *TINY, "--epochs", "1", "--out", str(out), "--resume"])
    assert result.exit_code == 2 and "no " in stderr_of(result) and "last.pt" in stderr_of(result)
    assert runner.invoke(app, ["train", *TINY, "--epochs", "1", "--out", str(out)]).exit_code == 0
    changed = runner.invoke(app, ["train", *TINY, "--epochs", "1", "--lr", "0.5", "--out", str(out), "--resume"])
    assert changed.exit_code == 2 and "optim.lr: 0.1 -> 0.5" in stderr_of(changed)
    done = runner.invoke(app, ["train", "--out", str(out), "--resume"])  # flags come from the saved config
    assert done.exit_code == 0, stderr_of(done)


@pytest.mark.parametrize("args,message", [
    (["--amp", "fp8"], "amp must be one of off, bf16, fp16"),
    (["--amp", "fp16"], "needs a CUDA device"),
    (["--dataset", "imagenet"], "unknown dataset 'imagenet'"),
    (["--depth", "21"], "6n+2"),
    (["--epochs", "0"], "epochs must be"),
    (["--batch-size", "0"], "batch_size must be"),
    (["--config", "nonexistent-preset"], "no such file or preset"),
    (["--shift-impl", "fast"], "shift_impl must be one of"),
    (["--device", "cuda"] if not torch.cuda.is_available() else ["--device", "tpu"], "device"),
])
def test_bad_train_flags(args, message, data_dir, tmp_path):
    result = runner.invoke(app, ["train", "--out", str(tmp_path / "x"), *args])
    assert result.exit_code == 2, result.output
    err = stderr_of(result)
    assert message in err and len(err.strip().splitlines()) == 1, err


def test_config_files_extends_and_unknown_keys(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text("optim:\n  lr: 0.2\n  epochs: 10\nmodel:\n  depth: 56\n")
    child = tmp_path / "child.yaml"
    child.write_text("extends: base.yaml\noptim:\n  epochs: 5\n")
    config = load_config(child, {"model.expansion": 3.0})
    assert (config.optim.lr, config.optim.epochs, config.model.depth, config.model.expansion) == (0.2, 5, 56, 3.0)
    bad = tmp_path / "bad.yaml"
    bad.write_text("optim:\n  learning_rate: 0.1\n")
    with pytest.raises(UsageError, match="unknown key.*optim.learning_rate.*valid optim keys: .*lr"):
        load_config(bad)
    bad.write_text("trainer: {}\n")
    with pytest.raises(UsageError, match="unknown config section"):
        load_config(bad)
    loop = tmp_path / "loop.yaml"
    loop.write_text("extends: loop.yaml\n")
    with pytest.raises(UsageError, match="cycle"):
        load_config(loop)


def test_seed_recipes():
    repo = Path(__file__).resolve().parents[1] / "shiftnet" / "presets"
    seed = load_config(repo / "seed.yaml")
    assert (seed.optim.lr, seed.optim.momentum, seed.optim.weight_decay, seed.optim.epochs) == (0.1, 0.9, 5e-4, 164)
    assert seed.data.batch_size == 128 and not seed.optim.reset_momentum_each_epoch and not seed.run.select_on_test
    # HEAD schedule: lr for epochs <= 81, lr/10 for 82..122, lr/100 from 123 (0-based)
    assert [lr_at(seed.optim, e) for e in (0, 81, 82, 122, 123, 163)] == pytest.approx(
        [0.1, 0.1, 0.01, 0.01, 0.001, 0.001]
    )
    faithful = load_config(repo / "seed-faithful.yaml")
    assert faithful.optim.epochs == 160 and faithful.optim.reset_momentum_each_epoch and faithful.run.select_on_test
    assert faithful.run.bn_weight_init == "uniform"
    assert [lr_at(faithful.optim, e) for e in (81, 82, 123, 124)] == pytest.approx([0.1, 0.01, 0.01, 0.001])
    cosine = OptimConfig(schedule="cosine", epochs=10)
    assert lr_at(cosine, 0) == 0.1 and lr_at(cosine, 5) == pytest.approx(0.05)


def test_seed_faithful_reports_the_selected_number(data_dir, tmp_path):
    result = runner.invoke(app, ["train", "--config", "seed-faithful", *TINY, "--epochs", "2", "--limit-batches", "2",
                                 "--out", str(tmp_path / "f")])
    assert result.exit_code == 0, stderr_of(result)
    assert "seed-faithful, selected on the test set" in result.output
    saved = (tmp_path / "f" / "config.yaml").read_text()
    assert "reset_momentum_each_epoch: true" in saved and "select_on_test: true" in saved


def test_ctrl_c_exit_code_through_the_cli(data_dir, tmp_path, monkeypatch):
    def ctrl_c_in_epoch_2(self, epoch, batch, step):  # a real SIGINT, after the first step of epoch 2
        if epoch == 1:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(PlainReporter, "step_done", ctrl_c_in_epoch_2)  # the CLI's reporter off a terminal
    result = runner.invoke(app, ["train", *TINY, "--epochs", "3", "--out", str(tmp_path / "c")])
    assert result.exit_code == 130 and "--resume" in stderr_of(result) and len(stderr_of(result).splitlines()) == 1
    state = torch.load(tmp_path / "c" / "last.pt", weights_only=True)
    assert (state["epoch"], state["batch"]) == (1, 1)


@pytest.mark.slow
def test_kill_9_then_resume_is_bit_exact(data_dir, tmp_path):
    """A real SIGKILL of a real training process, then --resume: same weights as an uninterrupted run."""
    import subprocess
    import sys

    args = [*TINY, "--epochs", "6", "--limit-batches", "2"]
    assert runner.invoke(app, ["train", *args, "--out", str(tmp_path / "full")]).exit_code == 0
    out = tmp_path / "killed"
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "shiftnet", "train", *args, "--out", str(out)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        Lines(proc).wait_for("epoch 2/6", timeout=300)  # printed once epoch 2 is saved
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    epoch = torch.load(out / "last.pt", weights_only=True)["epoch"]
    if epoch == 6:
        pytest.skip("the run finished before it could be killed (machine too fast for this test's timing)")
    assert 2 <= epoch < 6 and not (out / "final.safetensors").exists()
    resumed = runner.invoke(app, ["train", *args, "--out", str(out), "--resume"])
    assert resumed.exit_code == 0, stderr_of(resumed)
    _assert_same_run(tmp_path / "full", out)


@pytest.mark.parametrize("extra", [["--amp", "bf16"], ["--channels-last"], ["--channels-last", "--shift-impl", "conv"],
                                   ["--deterministic"], ["--config", "seed-faithful"]])
def test_speed_and_recipe_switches_run(extra, data_dir, tmp_path):
    result = runner.invoke(app, ["train", *TINY, "--epochs", "1", "--limit-batches", "2", *extra,
                                 "--out", str(tmp_path / "s")])
    torch.use_deterministic_algorithms(False)
    assert result.exit_code == 0, stderr_of(result)
    row = next(csv.DictReader((tmp_path / "s" / "metrics.csv").open()))
    assert all(float(row[k]) == float(row[k]) for k in ("train_loss", "test_loss"))  # finite, not NaN


def test_tensorboard_events_when_installed(data_dir, tmp_path, monkeypatch):
    import sys
    import types

    written = []

    class FakeWriter:
        def __init__(self, logdir):
            written.append(("dir", logdir))

        def add_scalar(self, key, value, step):
            written.append((key, step))

        def close(self):
            written.append(("closed",))

    fake = types.ModuleType("torch.utils.tensorboard")
    fake.SummaryWriter = FakeWriter
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", fake)
    Trainer(tiny_config(tmp_path), tmp_path / "tb").run()
    assert written[0] == ("dir", str(tmp_path / "tb" / "tensorboard")) and written[-1] == ("closed",)
    assert ("epoch/test_acc", 2) in written and ("epoch/lr", 0) in written
