"""One training step, the same for ``shiftnet train`` and ``shiftnet bench train``, and the running
totals of the steps of an epoch.

The step is the recipe's: cross-entropy of the logits in float32 (under AMP too), gradients set to
None, then the optimizer through the AMP scaler when one is given (fp16 needs it; a disabled scaler
changes nothing). The totals stay on the device: reading them waits for the device, so the loop
reads them only every few batches (``CHECK_EVERY``) and at the epoch's end; a NaN or inf loss
stops the run there (``check_finite``).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from ..checkpoint import EpochStats
from ..errors import RunError
from .distributed import DistInfo, all_reduce_sum
from .evaluate import autocast

CHECK_EVERY = 25  # batches between reads of the totals (a NaN check and a progress report)


def train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, inputs: torch.Tensor, labels: torch.Tensor,
               amp: str = "off", scaler: torch.amp.GradScaler | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward, backward and one optimizer step on a batch; returns (mean loss, logits), detached."""
    with autocast(inputs.device, amp):
        logits = model(inputs)
        loss = F.cross_entropy(logits.float(), labels)
    optimizer.zero_grad(set_to_none=True)
    if scaler is None:
        loss.backward()
        optimizer.step()
    else:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    return loss.detach(), logits.detach()


def stop_unless_finite(what: str, value: float, when: str, last_save: Path) -> None:
    """A NaN or inf loss (training, or the test loss: a model whose evaluation outputs overflowed) stops the
    run in one line, before the state that produced it is saved."""
    if math.isfinite(value):
        return
    advice = (f"{last_save} keeps the last good save; try a lower --lr or --amp off in a new run (another "
              f"--name)" if last_save.is_file() else
              "nothing was saved; rerun with a lower --lr or --amp off (the folder can be reused)")
    raise RunError(f"the {what} became {value} {when}; stopped without saving it: {advice}")


class RunningTotals:
    """Loss sum, correct count and images of the steps since it was made, and the time they took."""

    def __init__(self, device: torch.device):
        self.loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        self.correct = torch.zeros((), dtype=torch.int64, device=device)
        self.seen = 0
        self.started = time.perf_counter()

    def add(self, loss: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor) -> None:
        self.loss_sum += loss.double() * labels.numel()
        self.correct += (logits.argmax(1) == labels).sum()
        self.seen += labels.numel()

    def check_finite(self, epoch: int, batch: int, last_save: Path, dist: DistInfo) -> None:
        """A one-line RunError if the loss sum is NaN or inf: the run stops without saving the bad state.
        Under DDP the sum over the processes is checked, so all stop together (one process stopping alone
        would leave the others waiting in their next collective)."""
        loss = all_reduce_sum(dist, self.loss_sum).item()
        stop_unless_finite("training loss", loss, f"in epoch {epoch + 1} by batch {batch}", last_save)

    def images_per_s(self) -> float:
        return self.seen / max(time.perf_counter() - self.started, 1e-9)

    def after(self, earlier: EpochStats) -> EpochStats:
        """``earlier`` (the epoch's totals before these steps) with these steps added."""
        return earlier.plus(self.loss_sum.item(), int(self.correct), self.seen, time.perf_counter() - self.started)
