"""Ctrl-C (SIGINT) and SIGTERM during training: a request the loop honours between steps.

Python raises ``KeyboardInterrupt`` wherever the interpreter happens to be when the signal comes.
Inside a forward pass, the BatchNorm layers before that point have already updated their running
statistics, so a state saved there matches no step boundary and a resumed run drifts from an
uninterrupted one. While a ``StopRequests`` is active the handler only records the signal; the
loop checks ``requested`` after each optimizer step and saves there. Two exceptions raise at once:
inside ``interruptible()`` (evaluation, which changes no state), and a second Ctrl-C of a
single process, for a user who wants out now (the last save then stands).
"""

from __future__ import annotations

import contextlib
import signal
import threading

import torch

from .distributed import DistInfo, all_reduce_sum
from .step import CHECK_EVERY

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequests:
    """``with StopRequests(escalate) as stop:`` install the handlers; ``stop.requested`` is the signal
    number asked for (or None). Handlers are only installed from the main thread (Python's rule);
    elsewhere signals keep their usual effect."""

    def __init__(self, escalate: bool = True):
        self.escalate = escalate  # a second SIGINT raises KeyboardInterrupt (off under DDP: torchrun repeats it)
        self.requested: int | None = None
        self._raise_now = False
        self._previous: dict = {}

    def _handle(self, signum, frame) -> None:
        if self._raise_now or (self.escalate and self.requested is not None and signum == signal.SIGINT):
            self.requested = self.requested or signum
            raise KeyboardInterrupt
        self.requested = self.requested or signum

    @contextlib.contextmanager
    def interruptible(self):
        """A section that a signal may cut short at once (it raises KeyboardInterrupt)."""
        if self.requested is not None:
            raise KeyboardInterrupt
        self._raise_now = True
        try:
            yield
        finally:
            self._raise_now = False

    def agreed(self, dist: DistInfo, device: torch.device, batch: int | None = None, total: int | None = None) -> bool:
        """A signal asked to stop; under DDP the ranks agree, at the batches where they synchronise anyway
        (every ``CHECK_EVERY``, the epoch's last, and between epochs: ``batch`` None)."""
        if not dist.enabled:
            return self.requested is not None
        if batch is not None and batch % CHECK_EVERY and batch != total:
            return False
        flag = torch.tensor([0.0 if self.requested is None else 1.0], device=device)
        return all_reduce_sum(dist, flag).item() > 0

    @property
    def exit_code(self) -> int:
        return 128 + int(self.requested or signal.SIGINT)

    @property
    def name(self) -> str:
        return "Ctrl-C" if self.requested in (None, signal.SIGINT) else signal.Signals(self.requested).name

    def __enter__(self) -> "StopRequests":
        if threading.current_thread() is threading.main_thread():
            self._previous = {sig: signal.signal(sig, self._handle) for sig in SIGNALS}
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}
