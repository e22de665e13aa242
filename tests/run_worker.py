"""Run by tests/test_run_*.py as a real process that the tests signal or kill.

argv: MODE DATA_DIR OUT...; lines on stdout tell the test where the process is.

- ``chain DATA FULL CUT``: one uninterrupted run in FULL ("reference done"), then the same run in
  CUT, resumed after every interruption until it ends ("done"). Each optimizer step prints
  "step EPOCH BATCH STEP"; each interruption prints "interrupted ..." (the test sends SIGINT at
  random moments and waits for that line before the next).
- ``hold DATA OUT``: start a run in OUT, and at its first step enter an atomic write of last.pt and
  print "holding": the test then finds the lock held and a temporary file present, and kills -9.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

from shiftnet.engine.train import Reporter, Trainer
from shiftnet.errors import Interrupted
from shiftnet.fileio import atomic_path
from tests.runs import tiny_config

EPOCHS = 5


class Quiet(Reporter):
    """No output; ``at_step(epoch, batch, step)`` runs after each optimizer step and ``at_evaluation(epoch)``
    as each evaluation starts, when given."""

    def __init__(self, at_step=None, at_evaluation=None):
        self.at_step = at_step
        self.at_evaluation = at_evaluation

    def message(self, text: str) -> None:
        pass

    def step_done(self, epoch: int, batch: int, step: int) -> None:
        if self.at_step is not None:
            self.at_step(epoch, batch, step)

    def evaluation_start(self, epoch: int) -> None:
        if self.at_evaluation is not None:
            self.at_evaluation(epoch)

    def epoch_end(self, row: dict, epochs: int) -> None:
        pass


def config(data_dir: str, epochs: int = EPOCHS):
    return tiny_config(Path(data_dir), epochs, **{"optim.milestones": [3], "run.limit_batches": None})


def report_step(epoch: int, batch: int, step: int) -> None:
    print(f"step {epoch} {batch} {step}", flush=True)


def chain(data_dir: str, full: str, cut: str) -> None:
    Trainer(config(data_dir), Path(full), reporter=Quiet()).run()
    print("reference done", flush=True)
    while True:
        try:
            try:
                resume = (Path(cut) / "last.pt").is_file()
                Trainer(config(data_dir), Path(cut), resume=resume, reporter=Quiet(report_step)).run()
            except Interrupted as exc:
                print(f"interrupted {exc}", flush=True)
                continue
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            print("done", flush=True)
            return
        except KeyboardInterrupt:  # landed outside Trainer.run (its constructor, this loop)
            print("interrupted outside the run", flush=True)


def hold(data_dir: str, out: str) -> None:
    def at_first_step(epoch: int, batch: int, step: int) -> None:
        with atomic_path(Path(out) / "last.pt"):
            print("holding", flush=True)
            sys.stdin.readline()  # until killed (or the test's end closes stdin)
            raise SystemExit(0)  # inside the write: nothing replaces last.pt

    Trainer(config(data_dir, 2), Path(out), reporter=Quiet(at_first_step)).run()


if __name__ == "__main__":
    {"chain": chain, "hold": hold}[sys.argv[1]](*sys.argv[2:])
