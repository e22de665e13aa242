"""train.log and environment.json: what a run prints is kept in its folder, whole lines only, across a
real Ctrl-C and resume; the environment is recorded at the first start and again only when it changes."""

from __future__ import annotations

import csv
import json
import os
import platform
import re
import signal
import subprocess
import sys

import pytest
import torch
from typer.testing import CliRunner

import shiftnet
from shiftnet.cli import app
from shiftnet.engine.train import Trainer
from shiftnet.errors import Interrupted, RunError, UsageError

from .conftest import stderr_of
from .run_worker import Quiet
from .runs import REPO, TINY, Lines, data_dir, one_thread, tiny_config  # noqa: F401 - fixtures

runner = CliRunner()
STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (.*)$")


def log_lines(folder) -> list[str]:
    """train.log's lines without their timestamps; every line must be whole and stamped."""
    text = (folder / "train.log").read_text()
    assert text.endswith("\n"), text[-200:]
    lines = []
    for line in text.splitlines():
        match = STAMP.match(line)
        assert match, f"a line without its time: {line!r}"
        lines.append(match.group(1))
    return lines


def stop_at(steps: set[int]):
    """A reporter that sends this process SIGINT after each of the given optimizer steps."""
    def at_step(epoch, batch, step):
        if step in steps:
            os.kill(os.getpid(), signal.SIGINT)
    return Quiet(at_step)


def train_process(args: list[str]) -> tuple[subprocess.Popen, Lines]:
    """``shiftnet train ARGS`` in a process of its own (stdout a pipe: the plain reporter's lines)."""
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "shiftnet", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    return proc, Lines(proc)


@pytest.mark.slow
def test_the_log_holds_what_the_command_printed_across_a_real_ctrl_c_and_resume(data_dir, tmp_path):
    out = tmp_path / "run"
    args = ["train", *TINY, "--epochs", "5", "--out", str(out)]
    proc, lines = train_process(args)
    printed = [lines.wait_for("  ... batch", timeout=300)]  # the first progress line: epoch 1 is under way
    proc.send_signal(signal.SIGINT)
    while (line := lines.queue.get(timeout=300)) is not None:
        printed.append(line)
    error = proc.stderr.read().strip()
    assert proc.wait(timeout=60) == 130, error
    last = log_lines(out)[-1]  # the CLI's one line (after its "error: "), as the log's last
    assert last.startswith("stopped: interrupted ") and error.endswith(last.removeprefix("stopped: ")), (last, error)

    # resumed in a process like the first (same OMP_NUM_THREADS, torch threads): the environment must read unchanged
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    resumed = subprocess.run([sys.executable, "-m", "shiftnet", *args, "--resume"], capture_output=True, text=True,
                             env=env, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    printed += resumed.stdout.splitlines()
    logged = log_lines(out)
    markers = [line.split(" (pid")[0] for line in logged if line.startswith("===")]
    assert len(markers) == 2 and markers[0] == "=== start" and markers[1].startswith("=== resume at epoch ")
    assert f"resumed {out} at {markers[1].removeprefix('=== resume at ')}" in logged
    assert "environment: python" in logged[1] and "environment unchanged" in logged
    assert sum(line.startswith("training shiftresnet") for line in logged) == 2  # once per start
    epoch_lines = [line for line in printed if line.startswith("epoch ")]
    assert len(epoch_lines) == 5 and all(line in logged for line in epoch_lines)
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert all(f"acc {float(row['test_acc']):.2f}%  " in line for row, line in zip(rows, epoch_lines, strict=True))
    assert logged[-1] == f"finished: {resumed.stdout.splitlines()[-1]}"  # the summary the command printed last


@pytest.mark.slow
def test_kill_9_keeps_every_line_said_and_the_folder_continues(data_dir, tmp_path):
    """No line waits in the process's memory: what a killed run said is in the log, whole."""
    out = tmp_path / "run"
    args = ["train", *TINY, "--epochs", "5", "--out", str(out)]
    proc, lines = train_process(args)
    try:
        lines.wait_for("  ... batch 4", timeout=300)  # printed just after the log took its line
    finally:
        proc.kill()
        proc.wait()
    logged = log_lines(out)
    assert logged[0].startswith("=== start") and any(line.startswith("epoch 1/5 batch 4/4: loss ") for line in logged)
    assert not any(line.startswith(("stopped", "finished")) for line in logged)  # it had no time to say more
    # killed before or after epoch 1 was saved: the folder is continued either way, its log appended to
    again = runner.invoke(app, [*args, *(["--resume"] if (out / "last.pt").exists() else [])])
    assert again.exit_code == 0, stderr_of(again)
    logged_again = log_lines(out)
    assert logged_again[:len(logged)] == logged and logged_again[-1].startswith("finished: ")


def test_the_environment_is_recorded_at_the_first_start_and_again_only_when_it_changes(data_dir, tmp_path,
                                                                                      monkeypatch):
    out = tmp_path / "run"
    config = tiny_config(data_dir, 3, **{"run.limit_batches": None})
    with pytest.raises(Interrupted):
        Trainer(config, out, reporter=stop_at({3})).run()
    record = json.loads((out / "environment.json").read_text())
    assert record["format"] == "shiftnet-environment-1" and len(record["run_id"]) == 16
    [first] = record["starts"]
    env = first["environment"]
    assert first["resumed"] is False and first["command"] == sys.argv
    assert (env["python"], env["torch"], env["shiftnet"], env["device"], env["processes"]) == \
           (platform.python_version(), torch.__version__, shiftnet.__version__, "cpu", 1)
    assert env["cpu_count"] == os.cpu_count() and env["torch_threads"] == torch.get_num_threads()
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode == 0 and (REPO / ".git").exists():
        assert env["git"]["commit"] == head.stdout.strip() and isinstance(env["git"]["dirty"], bool)

    with pytest.raises(Interrupted):  # the same environment: nothing added
        Trainer(config, out, resume=True, reporter=stop_at({6})).run()
    assert json.loads((out / "environment.json").read_text()) == record
    monkeypatch.setenv("OMP_NUM_THREADS", f"{env['omp_num_threads'] or 1}7")  # another environment
    Trainer(config, out, resume=True, reporter=Quiet()).run()
    starts = json.loads((out / "environment.json").read_text())["starts"]
    assert len(starts) == 2 and starts[0] == first and starts[1]["resumed"] is True
    assert starts[1]["environment"]["omp_num_threads"] == f"{env['omp_num_threads'] or 1}7"
    logged = log_lines(out)
    assert [line for line in logged if line.startswith("environment ")] == [
        "environment unchanged",
        f"environment changed: omp_num_threads: {env['omp_num_threads']} -> {env['omp_num_threads'] or 1}7"]
    assert logged[-1].startswith("finished: final test accuracy")


def test_a_record_that_is_not_ours_stops_a_resume_before_anything_is_written(data_dir, tmp_path):
    out = tmp_path / "run"
    config = tiny_config(data_dir, 2, **{"run.limit_batches": None})
    with pytest.raises(Interrupted):
        Trainer(config, out, reporter=stop_at({2})).run()
    (out / "environment.json").write_text('{"starts": []}')
    log = (out / "train.log").read_bytes()
    with pytest.raises(UsageError, match=r"environment.json is not a shiftnet environment record .*move it away"):
        Trainer(config, out, resume=True, reporter=Quiet()).run()
    assert (out / "train.log").read_bytes() == log


def test_a_train_log_that_is_a_symbolic_link_is_not_followed(data_dir, tmp_path):
    out, target = tmp_path / "run", tmp_path / "elsewhere.txt"
    out.mkdir()
    target.write_text("not yours\n")
    (out / "train.log").symlink_to(target)
    with pytest.raises(RunError, match="train.log is a symbolic link, not a run's log: move it away"):
        Trainer(tiny_config(data_dir, 1), out, reporter=Quiet()).run()
    assert target.read_text() == "not yours\n"
