"""A run's numbers for TensorBoard and Weights & Biases: a point every ``run.log_every`` optimizer
steps and one per epoch.

Per step (x: the run's step count, as in ``last.pt``): ``step/loss`` (that step's batch loss, on
rank 0 under DDP), ``step/lr`` and ``step/images_per_s`` (all processes' images since the previous
point of the same epoch, over the time they took). Per epoch (x: the ``epoch`` column of
``metrics.csv``, 0-based): ``epoch/<column>`` with that row's values, so a plot and the file agree.

TensorBoard (``pip install 'shiftnet[tensorboard]'``) writes ``<run>/tensorboard`` whenever it is
installed. That folder is one of a run's outputs, which a folder without ``last.pt`` may not hold
(``runfolder``): the points before the first ``last.pt`` is saved wait in memory and are written
with the first point after it, or at the end if there is one, so a run that fails in its first
epoch leaves a folder that can be reused. Weights & Biases (``shiftnet[wandb]``) logs only when
``run.wandb`` asks for it: the config (with the environment) once, the same points, and the final
and best accuracy in the run's summary; it starts with the run, so a login or network problem
shows before the first step, and it resumes the same W&B run under the folder's ``run_id``
(``environment``). Its files go where W&B puts them (``WANDB_DIR``, else ``./wandb``);
``WANDB_MODE=offline`` logs with no network, for ``wandb sync`` later. Only rank 0 logs.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

import torch

from ..config import RunConfig
from ..errors import RunError, UsageError
from .environment import Start
from .step import RunningTotals

EPOCH_KEYS = ("lr", "train_loss", "train_acc", "test_loss", "test_acc", "images_per_s")


def require_wandb():
    """The wandb module, or the one line that says how to install it."""
    try:
        import wandb
    except ImportError:
        raise UsageError("--wandb needs Weights & Biases: pip install 'shiftnet[wandb]'") from None
    return wandb


class Scalars:
    """Rank 0's TensorBoard writer and W&B run, for the run in ``folder``."""

    def __init__(self, folder: Path, run: RunConfig, world_size: int, enabled: bool):
        self.folder = Path(folder)
        self.every = run.log_every
        self.world_size = world_size
        self.enabled = enabled
        self.wandb = require_wandb() if run.wandb else None  # every rank: none may start without it
        self.wandb_run = None
        self._writer = None
        self._tensorboard = enabled  # until SummaryWriter turns out not to be importable
        self._waiting: list[tuple[str, float, int]] = []  # TensorBoard points before the first last.pt
        self._window: tuple[RunningTotals, int, float] | None = None

    def start(self, start: Start, name: str, config: dict) -> None:
        """Start (or resume) the W&B run, when asked for, with the config and environment; a one-line
        RunError if W&B cannot start."""
        if not self.enabled or self.wandb is None:
            return
        try:
            self.wandb_run = self.wandb.init(project=os.environ.get("WANDB_PROJECT", "shiftnet"), id=start.run_id,
                                             name=name, config={**config, "environment": start.environment},
                                             resume="allow")
            for axis in ("step", "epoch"):
                self.wandb_run.define_metric(axis)
                self.wandb_run.define_metric(f"{axis}/*", step_metric=axis)
        except Exception as exc:  # W&B raises its own types (no login, no network, a bad setting)
            message = " ".join(str(exc).split())[:300]
            raise RunError(f"Weights & Biases did not start ({type(exc).__name__}: {message}); log in with "
                           f"`wandb login`, or set WANDB_MODE=offline to log locally and `wandb sync` later") from None

    def step(self, step: int, loss: torch.Tensor, lr: float, totals: RunningTotals) -> None:
        """Called after every optimizer step; reads the loss (a device sync) only every ``log_every`` steps."""
        if not self.enabled or step % self.every:
            return
        now = time.perf_counter()
        if self._window is None or self._window[0] is not totals:  # a new epoch (or a resumed one)
            self._window = (totals, 0, totals.started)
        _, seen, since = self._window
        self._window = (totals, totals.seen, now)
        images_per_s = (totals.seen - seen) * self.world_size / max(now - since, 1e-9)
        self._log("step", step, {"loss": loss.item(), "lr": lr, "images_per_s": images_per_s})

    def epoch(self, row: dict) -> None:
        """The epoch's row of metrics.csv (called once ``last.pt`` holds the epoch)."""
        if self.enabled:
            self._log("epoch", row["epoch"], {key: row[key] for key in EPOCH_KEYS})

    def _log(self, axis: str, x: int, values: dict) -> None:
        if self.wandb_run is not None:
            self.wandb_run.log({axis: x, **{f"{axis}/{key}": value for key, value in values.items()}})
        if self._tensorboard:
            self._waiting.extend((f"{axis}/{key}", value, x) for key, value in values.items())
            self._flush()

    def _flush(self) -> None:
        if not self._waiting or not (self.folder.parent / "last.pt").is_file():
            return
        if self._writer is None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # tensorboard is not installed: no events, as documented
                self._tensorboard, self._waiting = False, []
                return
            self._writer = SummaryWriter(str(self.folder))
        for tag, value, x in self._waiting:
            self._writer.add_scalar(tag, value, x)
        self._waiting = []

    def close(self, result: dict | None, error: BaseException | None) -> None:
        """Write what waits, close TensorBoard, finish the W&B run with the result in its summary."""
        with contextlib.suppress(Exception) if error is not None else contextlib.nullcontext():
            if self._tensorboard:
                self._flush()
            if self._writer is not None:
                self._writer.close()
                self._writer = None
            if self.wandb_run is not None:
                if result is not None and result.get("final_acc") is not None:
                    self.wandb_run.summary.update({key: result[key] for key in
                                                   ("final_acc", "best_acc", "best_epoch", "epochs")})
                run, self.wandb_run = self.wandb_run, None
                run.finish(exit_code=0 if error is None else getattr(error, "exit_code", 1))
