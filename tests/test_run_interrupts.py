"""Ctrl-C for real: SIGINT at random moments of a training process, in the evaluation, at start-up.

The oracle is an uninterrupted run of the same config: after any number of interruptions and
resumes, every tensor of the final state (parameters, BatchNorm buffers, optimizer momentum, RNG)
must equal it bit for bit. A signal that lands inside a forward pass would leave BatchNorm running
statistics of a half step in the saved state, which shows up here as a mismatch.
"""

from __future__ import annotations

import os
import random
import signal
import statistics
import subprocess
import sys
import time

import pytest
import torch

from shiftnet.engine.train import Trainer
from shiftnet.errors import Interrupted

from . import run_worker
from .helpers import make_ready_cifar10
from .runs import REPO, Lines, assert_same_final_state, one_thread, tiny_config  # noqa: F401 - one_thread: autouse

STEPS_PER_EPOCH = 4  # make_ready_cifar10's 64 training images in batches of 16


@pytest.mark.slow
def test_sigint_at_random_moments_then_resume_is_bit_exact(tmp_path):
    """A real process, real SIGINTs at random moments (mid-step, between steps, in the evaluation),
    resumed after each: the end state equals an uninterrupted run's."""
    seed = int(os.environ.get("SHIFTNET_SIGNAL_SEED", random.randrange(10**6)))
    rng = random.Random(seed)
    data = make_ready_cifar10(tmp_path / "data")
    full, cut = tmp_path / "full", tmp_path / "cut"
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")  # one thread: steady steps on a busy machine
    with open(tmp_path / "stderr.txt", "w") as stderr:
        proc = subprocess.Popen([sys.executable, str(REPO / "tests" / "run_worker.py"), "chain", str(data), str(full),
                                 str(cut)], stdout=subprocess.PIPE, stderr=stderr, text=True, env=env)
    lines = Lines(proc)
    total = run_worker.EPOCHS * STEPS_PER_EPOCH
    intervals, previous, pending, replies = [], None, False, []
    try:
        lines.wait_for("reference done", timeout=600)
        while True:
            line = lines.next()
            if line.startswith("step"):
                step, now = int(line.split()[3]), time.monotonic()
                if previous is not None and previous[0] == step - 1:
                    intervals.append(now - previous[1])
                previous = (step, now)
                if not pending and intervals and step < total - 1:
                    time.sleep(rng.uniform(0, 1.5 * statistics.median(intervals)))  # a random moment, not a wait
                    proc.send_signal(signal.SIGINT)
                    pending = True
            elif line.startswith("interrupted"):
                assert pending, line
                pending = False
                replies.append(line)
            elif line == "done":
                break
        assert proc.wait(timeout=120) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    context = f"seed {seed}; replies: {replies}; stderr: {(tmp_path / 'stderr.txt').read_text()[-2000:]}"
    assert len(replies) >= 5, context
    assert all("Traceback" not in r for r in replies), context
    print(context)  # shown with -s or on failure: where the signals landed
    try:
        assert_same_final_state(full, cut)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; {context}") from None


def test_ctrl_c_in_the_evaluation_saves_the_finished_epoch_first(tmp_path):
    data = make_ready_cifar10(tmp_path / "data")
    config = tiny_config(data)
    Trainer(config, tmp_path / "full", reporter=run_worker.Quiet()).run()

    def cut(epoch):  # a real SIGINT to this process as the evaluation of epoch 1 starts
        os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(Interrupted, match=r"in the evaluation of epoch 1 .*--resume") as caught:
        Trainer(config, tmp_path / "cut", reporter=run_worker.Quiet(at_evaluation=cut)).run()
    assert caught.value.exit_code == 130
    state = torch.load(tmp_path / "cut" / "last.pt", weights_only=True)
    assert (state["epoch"], state["batch"], state["history"]) == (0, 3, [])  # the epoch's training, not redone
    assert not (tmp_path / "cut" / "metrics.csv").exists()
    Trainer(config, tmp_path / "cut", resume=True, reporter=run_worker.Quiet()).run()
    assert_same_final_state(tmp_path / "full", tmp_path / "cut")


def test_a_second_ctrl_c_stops_at_once_and_keeps_the_last_save(tmp_path):
    data = make_ready_cifar10(tmp_path / "data")
    config = tiny_config(data)
    saved = {}

    def twice(epoch, batch, step):
        if (epoch, batch) == (1, 1):
            saved["bytes"] = (tmp_path / "run" / "last.pt").read_bytes()
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)  # the second one raises here, inside the step's hook

    with pytest.raises(Interrupted, match=r"without saving this moment; .*last.pt holds the last save") as caught:
        Trainer(config, tmp_path / "run", reporter=run_worker.Quiet(twice)).run()
    assert caught.value.exit_code == 130
    assert (tmp_path / "run" / "last.pt").read_bytes() == saved["bytes"]
    assert not (tmp_path / "run" / ".lock").exists()


def test_sigterm_is_honoured_like_ctrl_c(tmp_path):
    data = make_ready_cifar10(tmp_path / "data")

    def term(epoch, batch, step):
        if (epoch, batch) == (0, 2):
            os.kill(os.getpid(), signal.SIGTERM)

    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    with pytest.raises(Interrupted, match=r"at epoch 1, batch 2 \(SIGTERM\)") as caught:
        Trainer(tiny_config(data), tmp_path / "run", reporter=run_worker.Quiet(term)).run()
    assert caught.value.exit_code == 143
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=True)["batch"] == 2
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before  # handlers restored


# ``python -m shiftnet`` whose import of typer (the first of shiftnet.cli's) waits until the test has signalled
PAUSED_AT_TYPER = """
import runpy, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)  # as from a terminal (a script's background job ignores it)
class PauseAtTyper:
    def find_spec(self, name, path=None, target=None):
        if name == "typer":
            sys.meta_path.remove(self)
            print("importing typer", file=sys.stderr, flush=True)
            sys.stdin.readline()  # the SIGINT lands here, inside the import
        return None
sys.meta_path.insert(0, PauseAtTyper())
runpy.run_module("shiftnet", run_name="__main__", alter_sys=True)
"""


def test_ctrl_c_at_start_up_exits_130_without_a_traceback(tmp_path):
    """SIGINT while ``python -m shiftnet`` is still importing its command line: exit 130, one line."""
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-c", PAUSED_AT_TYPER, "params"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        first = proc.stderr.readline()
        assert first == "importing typer\n", first + proc.stderr.read()
        proc.send_signal(signal.SIGINT)
        proc.stdin.close()  # were the signal lost, the import would go on (and the exit code say so)
        rest = proc.stderr.read()
        assert proc.wait(timeout=120) == 130, rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert rest.splitlines() == ["error: interrupted (Ctrl-C)"], rest
