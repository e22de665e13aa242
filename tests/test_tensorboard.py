"""TensorBoard for real (the tensorboard extra): the events a run writes, read back with tensorboard's
own EventAccumulator, agree with metrics.csv: every step once across a Ctrl-C and resume, each
epoch's row, and a run that fails in its first epoch leaves no tensorboard folder."""

from __future__ import annotations

import csv
import math
import os
import signal

import pytest
import torch

from shiftnet.engine.train import Trainer
from shiftnet.errors import Interrupted, RunError

from .run_worker import Quiet
from .runs import data_dir, one_thread, tiny_config  # noqa: F401 - fixtures

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

STEPS_PER_EPOCH = 4  # make_ready_cifar10's 64 training images in batches of 16
EPOCH_TAGS = {f"epoch/{key}" for key in ("lr", "train_loss", "train_acc", "test_loss", "test_acc", "images_per_s")}
STEP_TAGS = {"step/loss", "step/lr", "step/images_per_s"}


def events(folder) -> dict[str, list[tuple[int, float]]]:
    accumulator = EventAccumulator(str(folder / "tensorboard"))
    accumulator.Reload()
    return {tag: [(e.step, e.value) for e in accumulator.Scalars(tag)] for tag in accumulator.Tags()["scalars"]}


def metrics(folder) -> list[dict]:
    return [{k: float(v) for k, v in row.items()} for row in csv.DictReader((folder / "metrics.csv").open())]


def test_every_step_and_every_epoch_once_across_a_ctrl_c_in_the_first_epoch(data_dir, tmp_path):
    out = tmp_path / "run"
    config = tiny_config(data_dir, 2, **{"run.limit_batches": None, "run.log_every": 1})

    def stop(epoch, batch, step):
        if step == 3:  # before the first last.pt: the points wait, then are written with the save
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(Interrupted, match="at epoch 1, batch 3"):
        Trainer(config, out, reporter=Quiet(stop)).run()
    Trainer(config, out, resume=True, reporter=Quiet()).run()
    found, rows = events(out), metrics(out)
    assert set(found) == STEP_TAGS | EPOCH_TAGS
    steps = range(1, 2 * STEPS_PER_EPOCH + 1)
    assert all([step for step, _ in found[tag]] == list(steps) for tag in STEP_TAGS)
    for tag in EPOCH_TAGS:
        column = tag.split("/")[1]
        assert [step for step, _ in found[tag]] == [0, 1]
        assert [v for _, v in found[tag]] == pytest.approx([row[column] for row in rows], rel=1e-5)
    for row in rows:  # a step's lr is its epoch's; the epoch's train loss is the mean of its steps' losses
        mine = range(int(row["epoch"]) * STEPS_PER_EPOCH + 1, (int(row["epoch"]) + 1) * STEPS_PER_EPOCH + 1)
        assert [v for s, v in found["step/lr"] if s in mine] == pytest.approx([row["lr"]] * STEPS_PER_EPOCH)
        losses = [v for s, v in found["step/loss"] if s in mine]
        assert sum(losses) / len(losses) == pytest.approx(row["train_loss"], rel=1e-5)
    assert all(math.isfinite(v) and v > 0 for _, v in found["step/images_per_s"])


def test_log_every_sets_the_step_points(data_dir, tmp_path):
    out = tmp_path / "run"
    Trainer(tiny_config(data_dir, 3, **{"run.limit_batches": None, "run.log_every": 5}), out, reporter=Quiet()).run()
    found = events(out)
    assert [step for step, _ in found["step/loss"]] == [5, 10]  # 12 steps in all
    assert [step for step, _ in found["epoch/test_acc"]] == [0, 1, 2]


def test_a_run_that_fails_in_its_first_epoch_writes_no_tensorboard_folder(data_dir, tmp_path):
    """A tensorboard folder without last.pt would make the folder refused (runfolder.OUTPUTS)."""
    out = tmp_path / "run"
    config = tiny_config(data_dir, 1, **{"run.limit_batches": None, "run.log_every": 1})

    def poison(epoch, batch, step):
        if step == 2:
            with torch.no_grad():
                trainer.model.linear.weight.fill_(float("nan"))

    trainer = Trainer(config, out, reporter=Quiet(poison))
    with pytest.raises(RunError, match="loss became nan"):
        trainer.run()
    assert not (out / "tensorboard").exists()
    Trainer(config, out, reporter=Quiet()).run()  # the folder is reused
    assert [step for step, _ in events(out)["step/loss"]] == [1, 2, 3, 4]
