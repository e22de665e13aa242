"""What the run-folder tests share: a subprocess's lines with bounded waits, a bit-exact comparison
of two runs' final states, a tiny config, and one torch thread per test."""

from __future__ import annotations

import queue
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from shiftnet.config import load_config

from .conftest import stderr_of
from .helpers import make_ready_cifar10

REPO = Path(__file__).resolve().parents[1]
TINY = ["--arch", "shiftresnet8", "--expansion", "2", "--batch-size", "16", "--device", "cpu", "--seed", "3"]
QUICK = [*TINY, "--epochs", "1", "--limit-batches", "1"]


@pytest.fixture(autouse=True)
def one_thread():
    """Two threads on a machine busy with other work spend most of a step waiting for each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def ctrl_c_raises():
    """SIGINT raises KeyboardInterrupt here, as in a process started from a terminal: one started as a
    background job of a script ignores SIGINT, and Python keeps it ignored."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """A tiny verified CIFAR-10 folder, the default data folder of the test."""
    folder = make_ready_cifar10(tmp_path / "data")
    monkeypatch.setenv("SHIFTNET_DATA", str(folder))
    return folder


def one_line(result, code: int) -> str:
    """stderr of a CLI result that must exit ``code`` with exactly one line and no traceback."""
    err = stderr_of(result)
    assert result.exit_code == code, (result.exit_code, result.output, err)
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err


def tiny_config(data_dir: Path, epochs: int = 2, **changes):
    values = {"model.arch": "shiftresnet", "model.depth": 8, "model.expansion": 2.0, "data.batch_size": 16,
              "data.eval_batch_size": 8, "optim.epochs": epochs, "run.device": "cpu", "run.seed": 3,
              "data.data_dir": str(data_dir), "run.limit_batches": 3}
    values.update(changes)
    return load_config(None, values)


def listing(folder: Path) -> dict:
    """Every file under ``folder`` with its bytes: what "nothing touched" is checked against."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


class Lines:
    """A subprocess's stdout, line by line, each wait bounded (the machine may be loaded)."""

    def __init__(self, proc: subprocess.Popen):
        self.proc = proc
        self.queue: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.queue.put(line.rstrip("\n"))
        self.queue.put(None)

    def next(self, timeout: float = 300) -> str:
        try:
            line = self.queue.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no line from the process within {timeout} s") from None
        assert line is not None, f"the process ended (exit {self.proc.wait()})"
        return line

    def wait_for(self, text: str, timeout: float = 300) -> str:
        deadline = time.monotonic() + timeout
        while True:
            line = self.next(max(1.0, deadline - time.monotonic()))
            if line.startswith(text):
                return line


def differences(a, b, where: str = "") -> list[str]:
    """Every place where two nested structures of tensors, numbers and strings differ."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        same = (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.dtype == b.dtype
                and a.shape == b.shape and torch.equal(a, b))
        return [] if same else [where]
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return [f"{where} keys {sorted(map(str, a.keys() ^ b.keys()))}"]
        return [d for key in a for d in differences(a[key], b[key], f"{where}.{key}")]
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return [f"{where} length"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{where}[{i}]")]
    return [] if a == b else [f"{where}: {a!r} != {b!r}"]


def assert_same_final_state(full: Path, cut: Path) -> None:
    """Bit for bit: model (parameters and buffers), optimizer, RNG, position, best; metrics but timings."""
    a = torch.load(full / "last.pt", weights_only=True)
    b = torch.load(cut / "last.pt", weights_only=True)
    exact = ("model", "optimizer", "rng", "epoch", "batch", "step", "best_acc", "best_epoch")
    assert not [d for key in exact for d in differences(a[key], b[key], key)]
    assert len(a["history"]) == len(b["history"])
    for row_a, row_b in zip(a["history"], b["history"]):
        # train_loss sums the same float64 terms in another grouping when an epoch is split: last bits only
        assert row_b["train_loss"] == pytest.approx(row_a["train_loss"], rel=1e-12)
        timing = ("train_loss", "seconds", "images_per_s")
        assert {k: v for k, v in row_a.items() if k not in timing} == \
               {k: v for k, v in row_b.items() if k not in timing}
    for name in ("final.safetensors", "best.safetensors"):
        assert not differences(load_file(str(full / name)), load_file(str(cut / name)), name)
