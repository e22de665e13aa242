"""Run folders: a run's files are never overwritten, one process writes a folder at a time, a killed
run's leftovers are cleaned, and a failure before the first epoch ends leaves a folder to reuse."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading

import pytest
import torch
from safetensors import safe_open
from typer.testing import CliRunner

import shiftnet.data.datasets as ds
from shiftnet.cli import app
from shiftnet.data.datasets import MARKER
from shiftnet.engine.train import Trainer
from shiftnet.errors import Interrupted, RunError

from . import run_worker
from .conftest import stderr_of
from .helpers import no_retry_wait, server  # noqa: F401 - fixtures
from .runs import QUICK, REPO, Lines, ctrl_c_raises, data_dir, listing, one_line, one_thread, tiny_config  # noqa: F401

runner = CliRunner()


@pytest.mark.parametrize("files", [["final.safetensors"], ["best.safetensors"], ["metrics.csv"], ["tensorboard/ev"],
                                   ["config.yaml", "metrics.csv", "best.safetensors"]])
def test_a_folder_with_a_runs_files_but_no_last_pt_is_never_written(files, data_dir, tmp_path):
    """A folder of weights kept without last.pt (a results/ copy, a run whose last.pt was deleted)."""
    out = tmp_path / "mine"
    for name in files:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(f"# the user's own {name}\n".encode())
    before = listing(out)
    for extra in ([], ["--resume"]):
        err = one_line(runner.invoke(app, ["train", *QUICK, "--out", str(out), *extra]), 2)
        assert files[-1].split("/")[0] in err and "never overwritten" in err and "another --out" in err
        assert listing(out) == before
        assert sorted(p.name for p in out.iterdir()) == sorted({f.split("/")[0] for f in files})


def test_a_running_folder_is_refused_and_a_killed_runs_lock_and_leftovers_are_cleaned(data_dir, tmp_path):
    """A real second process: the lock names its pid; after kill -9 the next run takes the stale lock
    over and removes the half-written last.pt and the dead process's extraction folder."""
    out = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, str(REPO / "tests" / "run_worker.py"), "hold", str(data_dir), str(out)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    try:
        Lines(proc).wait_for("holding", timeout=300)  # at its first step, inside the write of last.pt
        assert (out / ".lock").read_text().split() == [str(proc.pid)]
        before = listing(out)
        for extra in ([], ["--resume"]):
            err = one_line(runner.invoke(app, ["train", *QUICK, "--out", str(out), *extra]), 2)
            assert f"in use by another shiftnet run (pid {proc.pid})" in err
        assert listing(out) == before
    finally:
        proc.kill()
        proc.wait()
    temporary = [p for p in out.iterdir() if p.name.startswith(".last.pt.") and p.name.endswith(".tmp")]
    assert len(temporary) == 1 and (out / ".lock").exists() and not (out / "last.pt").exists()
    dead = data_dir / f".cifar-10-batches-py.staging-{proc.pid}"  # what kill -9 leaves inside an extraction
    (dead / "cifar-10-batches-py").mkdir(parents=True)
    live = data_dir / f".cifar-10-batches-py.staging-{os.getpid()}"  # a live process's: not ours to remove
    live.mkdir()

    result = runner.invoke(app, ["train", *QUICK, "--out", str(out)])  # no last.pt: the folder is reused
    assert result.exit_code == 0, stderr_of(result)
    assert f"took over the lock of pid {proc.pid}" in result.output
    assert not (out / ".lock").exists() and not temporary[0].exists() and not dead.exists() and live.exists()
    assert (out / "last.pt").is_file() and (out / "final.safetensors").is_file()


def test_a_lock_whose_pid_runs_but_holds_nothing_is_stale(data_dir, tmp_path):
    """A pid is reused after a crash: only a held flock means a live owner."""
    out = tmp_path / "run"
    out.mkdir()
    (out / ".lock").write_text(f"{os.getppid()}\n")
    result = runner.invoke(app, ["train", *QUICK, "--out", str(out)])
    assert result.exit_code == 0, stderr_of(result)
    assert f"took over the lock of pid {os.getppid()}" in result.output


def test_a_lock_file_that_is_a_symlink_is_refused_and_its_target_untouched(data_dir, tmp_path):
    out, target = tmp_path / "run", tmp_path / "precious.txt"
    out.mkdir()
    target.write_text("keep me")
    (out / ".lock").symlink_to(target)
    err = one_line(runner.invoke(app, ["train", *QUICK, "--out", str(out)]), 2)
    assert "is a symbolic link, not a lock file" in err
    assert target.read_text() == "keep me" and (out / ".lock").is_symlink()


@pytest.fixture
def offline(data_dir, tmp_path, monkeypatch, server, no_retry_wait):  # noqa: F811
    """No data set in the data folder, and its only URL answers 404 (a real local HTTP server)."""
    monkeypatch.setitem(ds.DATASETS, "cifar10", dataclasses.replace(ds.CIFAR10, urls=(server.url("/gone.tar.gz"),)))
    monkeypatch.delenv("SHIFTNET_CIFAR_MIRRORS", raising=False)
    monkeypatch.setenv("SHIFTNET_HTTP_TIMEOUT", "1")
    monkeypatch.setenv("SHIFTNET_DATA", str(tmp_path / "empty-data"))


@pytest.mark.parametrize("case,code,message", [
    (["--shift-impl", "cupy"], 2, "--shift-impl cupy needs a CUDA device"),
    (["--expansion", "1e9"], 2, "parameters"),
    ("offline", 1, "could not be downloaded"),
])
def test_failures_found_before_training_create_no_folder(case, code, message, data_dir, tmp_path, request):
    if case == "offline":
        request.getfixturevalue("offline")
        case = []
    out = tmp_path / "x" / "run"
    err = one_line(runner.invoke(app, ["train", *QUICK, *case, "--out", str(out)]), code)
    assert message in err and not (tmp_path / "x").exists()


def test_a_folder_with_only_the_test_split_names_the_missing_split(data_dir, tmp_path, offline):  # noqa: F811
    """A verified copy holding the test split only (as a CIFAR-100 test-file download leaves it): the line
    says the training split is what is missing, not that the data set is absent."""
    folder = data_dir / "cifar-10-batches-py"
    record = json.loads((folder / MARKER).read_text())
    (folder / MARKER).write_text(json.dumps({**record, "splits": ["test"]}))
    out = tmp_path / "run"
    err = one_line(runner.invoke(app, ["train", *QUICK, "--data-dir", str(data_dir), "--out", str(out)]), 1)
    assert f"cifar10's train split is not in {data_dir} and could not be downloaded" in err and not out.exists()


def test_ctrl_c_while_starting_creates_no_folder(data_dir, tmp_path, ctrl_c_raises):  # noqa: F811
    """A real SIGINT while the run reads its data set: the first training file is a pipe, and the test
    opens its other end (which waits until the run has opened it to read), signals the reading thread
    (its read is interrupted) and then writes the file's bytes (read, in case the signal came first)."""
    folder = data_dir / "cifar-10-batches-py"
    record = json.loads((folder / MARKER).read_text())
    content = (folder / "data_batch_1").read_bytes()
    (folder / "data_batch_1").unlink()
    os.mkfifo(folder / "data_batch_1")
    (folder / MARKER).write_text(json.dumps({**record, "sizes": {**record["sizes"], "data_batch_1": 0}}))
    reader = threading.main_thread().ident

    def interrupt_the_reading() -> None:
        try:
            with open(folder / "data_batch_1", "wb", buffering=0) as pipe:  # once the run has it open to read
                signal.pthread_kill(reader, signal.SIGINT)
                pipe.write(content)
        except BrokenPipeError:  # the run stopped reading first
            pass

    signaller = threading.Thread(target=interrupt_the_reading, daemon=True)
    signaller.start()
    err = one_line(runner.invoke(app, ["train", *QUICK, "--out", str(tmp_path / "run")]), 130)
    signaller.join(timeout=60)
    assert not signaller.is_alive(), "the run never opened its data"
    assert "no epoch was saved: rerun the same command (without --resume)" in err
    assert not (tmp_path / "run").exists()


def test_nan_in_the_first_epoch_leaves_only_config_and_start_records_and_the_folder_is_reused(data_dir, tmp_path):
    out = tmp_path / "nan"

    def poison(epoch, batch, step):
        with torch.no_grad():
            trainer.model.linear.weight.fill_(float("nan"))

    trainer = Trainer(tiny_config(data_dir, 1), out, reporter=run_worker.Quiet(poison))
    with pytest.raises(RunError, match=r"loss became nan in epoch 1 .*nothing was saved") as caught:
        trainer.run()
    assert "last.pt" not in str(caught.value)  # no claim of a file that does not exist
    assert sorted(p.name for p in out.iterdir()) == ["config.yaml", "environment.json", "train.log"]
    err = one_line(runner.invoke(app, ["train", *QUICK, "--out", str(out), "--resume"]), 2)
    assert f"no last.pt in {out}; start without --resume" in err
    result = runner.invoke(app, ["train", *QUICK, "--out", str(out)])
    assert result.exit_code == 0, stderr_of(result)
    assert (out / "last.pt").is_file()
    log = (out / "train.log").read_text()  # appended: both starts, the first one's end said
    assert log.count("=== start") == 2 and "stopped: the training loss became nan in epoch 1" in log


def test_a_run_killed_between_last_pt_and_the_epochs_files_gets_them_on_resume(data_dir, tmp_path):
    """last.pt is written first at an epoch end; a resume writes the epoch's other files again."""
    out = tmp_path / "run"
    assert runner.invoke(app, ["train", *QUICK, "--out", str(out)]).exit_code == 0
    names = ("final.safetensors", "best.safetensors", "metrics.csv")
    kept = {name: contents(out / name) for name in names}
    for name in names:
        (out / name).unlink()  # as if killed right after last.pt was written
    result = runner.invoke(app, ["train", "--out", str(out), "--resume"])
    assert result.exit_code == 0, stderr_of(result)
    assert {name: contents(out / name) for name in names} == kept


def contents(path):
    """A file's text, or a weights file's tensors and metadata (safetensors orders its metadata freely)."""
    if path.suffix != ".safetensors":
        return path.read_text()
    with safe_open(str(path), "pt") as handle:
        return handle.metadata(), {k: handle.get_tensor(k).tolist() for k in handle.keys()}


@pytest.fixture
def small_disk(tmp_path):
    """A real 64 KiB file system (tmpfs): room for config.yaml, not for last.pt. Needs root."""
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
                                           capture_output=True).returncode != 0:
        pytest.skip("mounting a small tmpfs needs root")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_says_so_and_leaves_a_folder_to_reuse(data_dir, small_disk):
    out = small_disk / "run"
    err = one_line(runner.invoke(app, ["train", *QUICK, "--out", str(out)]), 1)
    assert f"disk full while writing {out / 'last.pt'}" in err
    # no temporary file, no lock
    assert sorted(p.name for p in out.iterdir()) == ["config.yaml", "environment.json", "train.log"]
    subprocess.run(["mount", "-o", "remount,size=8m", str(small_disk)], check=True)  # space freed
    result = runner.invoke(app, ["train", *QUICK, "--out", str(out)])
    assert result.exit_code == 0, stderr_of(result)


def test_a_stopped_first_epoch_is_resumed_not_restarted(data_dir, tmp_path):
    """Ctrl-C inside epoch 1 saves: the folder then holds progress, so only --resume continues it."""
    out = tmp_path / "run"

    def stop(epoch, batch, step):
        os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(Interrupted, match="at epoch 1, batch 1"):
        Trainer(tiny_config(data_dir, 1), out, reporter=run_worker.Quiet(stop)).run()
    err = one_line(runner.invoke(app, ["train", *QUICK, "--out", str(out)]), 2)
    assert "already holds a run (last.pt); continue it with --resume" in err
