"""Weights & Biases (the wandb extra), offline and with no network: a run interrupted by Ctrl-C and
resumed logs the config and environment once per start, every step and epoch point once, and the
final and best accuracy in the summary, all read back from what W&B wrote with its own reader
(``wandb leet inspect --json``). Asked for without wandb installed, a run stops before it starts."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys

import pytest
import yaml
from typer.testing import CliRunner

from shiftnet.cli import app
from shiftnet.engine.train import Trainer
from shiftnet.errors import Interrupted

from .run_worker import Quiet
from .runs import QUICK, data_dir, one_line, one_thread, tiny_config  # noqa: F401 - fixtures

STEPS_PER_EPOCH = 4  # make_ready_cifar10's 64 training images in batches of 16


def test_asked_for_without_wandb_installed_one_line_before_anything_is_written(data_dir, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # what an environment without the extra imports
    config_file = tmp_path / "wandb.yaml"
    config_file.write_text(yaml.safe_dump({"run": {"wandb": True}}))
    out = tmp_path / "run"
    err = one_line(CliRunner().invoke(app, ["train", *QUICK, "--config", str(config_file), "--out", str(out)]), 2)
    assert "--wandb needs Weights & Biases: pip install 'shiftnet[wandb]'" in err
    assert not out.exists()


def inspect(run_dir) -> list[dict]:
    """The records of one offline run, as W&B's own reader prints them."""
    done = subprocess.run([sys.executable, "-m", "wandb", "leet", "inspect", "--json", str(run_dir)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


@pytest.mark.slow
def test_offline_run_logs_config_steps_epochs_and_summary_across_a_resume(data_dir, tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    probe = subprocess.run([sys.executable, "-m", "wandb", "leet", "inspect", "--help"], capture_output=True,
                           timeout=300)
    if probe.returncode != 0:
        pytest.skip("this wandb has no `wandb leet inspect` to read an offline run back")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb-dir"))
    monkeypatch.setenv("WANDB_SILENT", "true")
    (tmp_path / "wandb-dir").mkdir()
    out = tmp_path / "run"
    config = tiny_config(data_dir, 2, **{"run.limit_batches": None, "run.log_every": 1, "run.wandb": True})

    def stop(epoch, batch, step):
        if step == 6:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(Interrupted):
        Trainer(config, out, reporter=Quiet(stop)).run()
    result = Trainer(config, out, resume=True, reporter=Quiet()).run()

    run_id = json.loads((out / "environment.json").read_text())["run_id"]
    runs = sorted((tmp_path / "wandb-dir" / "wandb").glob(f"offline-run-*-{run_id}"))
    assert len(runs) == 2  # the start and the resume, under the folder's run id
    records = [inspect(run) for run in runs]
    history = [r["history"]["item"] for recs in records for r in recs if r["type"] == "history"]
    for recs in records:
        [run] = [r["run"] for r in recs if r["type"] == "run"]
        assert run["run_id"] == run_id and run["display_name"] == "run"
        logged = {k: v for k, v in run["config"]["update"].items() if k != "_wandb"}
        assert {k: v for k, v in logged.items() if k != "environment"} == json.loads(json.dumps(config.to_dict()))
        assert logged["environment"]["torch"] and logged["environment"]["device"] == "cpu"
    assert [r["exit"]["exit_code"] for recs in records for r in recs if r["type"] == "exit"] == [130, 0]

    steps = [item for item in history if "step" in item]
    assert [item["step"] for item in steps] == list(range(1, 2 * STEPS_PER_EPOCH + 1))
    rows = [{k: float(v) for k, v in row.items()} for row in csv.DictReader((out / "metrics.csv").open())]
    epochs = [item for item in history if "epoch" in item]
    assert [item["epoch"] for item in epochs] == [0, 1]
    for row, item in zip(rows, epochs, strict=True):
        assert {k: item[f"epoch/{k}"] for k in ("lr", "train_loss", "train_acc", "test_loss", "test_acc")} == \
               pytest.approx({k: row[k] for k in ("lr", "train_loss", "train_acc", "test_loss", "test_acc")}, rel=1e-5)
        mine = [s for s in steps if row["epoch"] * STEPS_PER_EPOCH < s["step"] <= (row["epoch"] + 1) * STEPS_PER_EPOCH]
        assert sum(s["step/loss"] for s in mine) / len(mine) == pytest.approx(row["train_loss"], rel=1e-5)
        assert all(s["step/lr"] == pytest.approx(row["lr"]) and s["step/images_per_s"] > 0 for s in mine)
    summary = {}
    for r in records[1]:
        if r["type"] == "summary":
            summary.update(r["summary"]["update"])
    assert {k: summary[k] for k in ("final_acc", "best_acc", "best_epoch", "epochs")} == \
           {k: result[k] for k in ("final_acc", "best_acc", "best_epoch", "epochs")}
