"""``<run>/train.log``: what a training run prints, with the time, appended to its run folder.

``RunLog`` wraps the caller's reporter (``reporting.Reporter``): every event reaches that reporter
unchanged, and the text the event stands for goes to the log first: each message, a progress line
at every progress report (every ``step.CHECK_EVERY`` batches and the epoch's last), the epoch's
line (``format_epoch``). Each start and each resume adds a marker line, and the run's end adds its
result or the error that stopped it, so a log read later says what happened at every start.

The file is opened only once the run has checked everything and holds its folder (``train``):
a refused folder is never touched; lines said before that are kept and written after the marker.
Lines are written with one ``os.write`` each to a file opened with ``O_APPEND`` and no buffer in
this process, so Ctrl-C, SIGTERM or ``kill -9`` at any moment leave whole lines and lose none
already said. A ``train.log`` that is a symbolic link is refused, as the lock is (``runfolder``).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import sys
import time
from pathlib import Path

from ..errors import RunError, ShiftnetError
from ..fileio import disk_error
from .environment import Start, describe
from .reporting import Reporter, format_epoch

FILE = "train.log"
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def _now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S")


def marker(where: str, start: Start) -> list[str]:
    """The lines that open a start in the log: which start, the command, the environment (whole at the
    first start, what changed at a resume). What is trained follows: the run's own "training ..." line."""
    changes = start.changes
    return [f"=== {where} (pid {os.getpid()}): {shlex.join(sys.argv)}",
            f"environment: {describe(start.environment)}" if changes is None else
            f"environment changed: {'; '.join(changes)}" if changes else "environment unchanged"]


def ending(error: BaseException | None, result: str | None) -> str:
    """The log's last line for this start: the result, or the error that ended it."""
    if error is None:
        return f"finished: {result}" if result else "finished"
    if isinstance(error, ShiftnetError):
        return f"stopped: {error}"
    return f"failed: {type(error).__name__}: {' '.join(str(error).split())[:500]}"


class RunLog(Reporter):
    """The caller's reporter, with ``train.log`` written beside it once ``open`` is called."""

    def __init__(self, inner: Reporter, path: Path):
        self.inner = inner
        self.path = Path(path)
        self._fd: int | None = None
        self._pending: list[tuple[str, str]] = []  # (time, text) said before open
        self._epoch = (0, 0, 0)  # the epoch under way: index, epochs in the run, its batches

    def open(self, marker: list[str]) -> None:
        """Open the log for appending: the ``marker`` lines of this start, then what was said before."""
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | _NOFOLLOW, 0o644)
        except OSError as exc:
            if self.path.is_symlink():
                raise RunError(f"{self.path} is a symbolic link, not a run's log: move it away") from None
            raise disk_error(exc, self.path) from None
        pending, self._pending = self._pending, []
        stamp = pending[0][0] if pending else _now()
        self._write([(stamp, line) for line in marker] + pending)

    def write(self, text: str) -> None:
        """A line that only the log holds (the screen shows it another way, or not at all)."""
        if self._fd is None:
            self._pending.append((_now(), text))
        else:
            self._write([(_now(), text)])

    def _write(self, lines: list[tuple[str, str]]) -> None:
        data = "".join(f"{stamp} {part}\n" for stamp, text in lines for part in text.splitlines() or [""]).encode()
        try:
            while data:  # a regular file takes it whole; the loop is for the rare short write
                data = data[os.write(self._fd, data):]
        except OSError as exc:
            raise disk_error(exc, self.path) from None

    def close(self, last: str | None = None) -> None:
        """Write ``last`` (if open) and close; never raises, as it runs while an error may be on its way."""
        if self._fd is None:
            self._pending = []
            return
        with contextlib.suppress(OSError, RunError):
            if last is not None:
                self._write([(_now(), last)])
        os.close(self._fd)
        self._fd = None

    # the loop's events: to the log, then to the caller's reporter
    def message(self, text: str) -> None:
        self.write(text)
        self.inner.message(text)

    def epoch_start(self, epoch: int, epochs: int, batches: int, done: int) -> None:
        self._epoch = (epoch, epochs, batches)
        self.inner.epoch_start(epoch, epochs, batches, done)

    def batch(self, done: int, loss: float, accuracy: float, images_per_s: float) -> None:
        epoch, epochs, batches = self._epoch
        self.write(f"epoch {epoch + 1}/{epochs} batch {done}/{batches}: loss {loss:.4f} acc {accuracy:.2f}% "
                   f"{images_per_s:.0f} img/s")
        self.inner.batch(done, loss, accuracy, images_per_s)

    def step_done(self, epoch: int, batch: int, step: int) -> None:
        self.inner.step_done(epoch, batch, step)

    def evaluation_start(self, epoch: int) -> None:
        self.inner.evaluation_start(epoch)

    def epoch_end(self, row: dict, epochs: int) -> None:
        self.write(format_epoch(row, epochs))
        self.inner.epoch_end(row, epochs)
