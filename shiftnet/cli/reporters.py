"""How ``shiftnet train`` shows a run: a Rich progress bar on a terminal, plain lines elsewhere.

A module of its own because the reporters subclass the engine's ``Reporter`` (which imports torch):
``cli/train.py`` imports this only when a run starts, so ``shiftnet train --help`` stays torch-free.
"""

from __future__ import annotations

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ..engine.train import Reporter, format_epoch
from .common import console


class RichReporter(Reporter):
    """A progress bar per epoch (loss, accuracy, img/s, ETA; "testing" once the epoch is trained) and one
    summary line per epoch."""

    def __init__(self):
        self.progress = None
        self.task = None

    def message(self, text: str) -> None:
        console.print(text)

    def epoch_start(self, epoch, epochs, batches, done):
        self.progress = Progress(
            TextColumn(f"epoch {epoch + 1}/{epochs} {{task.description}}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.4f} acc {task.fields[acc]:.2f}% {task.fields[ips]:.0f} img/s"),
            TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=True,
        )
        self.progress.start()
        self.task = self.progress.add_task("train", total=batches, completed=done, loss=float("nan"), acc=0.0, ips=0.0)

    def batch(self, done, loss, accuracy, images_per_s):
        if self.progress is not None:
            self.progress.update(self.task, completed=done, loss=loss, acc=accuracy, ips=images_per_s)

    def evaluation_start(self, epoch):
        if self.progress is not None:
            self.progress.update(self.task, description="testing")

    def epoch_end(self, row, epochs):
        self.stop()
        console.print(format_epoch(row, epochs))

    def stop(self):
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


class PlainReporter(Reporter):
    """Lines only (CI, nohup, pipes): one per epoch, plus a heartbeat about every quarter epoch."""

    def __init__(self):
        self.every = 1
        self.next = 1

    def epoch_start(self, epoch, epochs, batches, done):
        self.every = max(1, batches // 4)
        self.next = done + self.every

    def batch(self, done, loss, accuracy, images_per_s):
        if done >= self.next:
            self.next = done + self.every
            print(f"  ... batch {done}: loss {loss:.4f} acc {accuracy:.2f}% {images_per_s:.0f} img/s", flush=True)
