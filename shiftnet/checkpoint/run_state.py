"""``last.pt``: everything a run needs to continue exactly, written and read here and nowhere else.

The file holds only tensors, numbers, strings, lists and dicts, so it loads with
``torch.load(weights_only=True)``: no pickled classes, nothing executes on load. Its keys (format
``shiftnet-run-1``): the resolved config, model, optimizer and AMP scaler states, the position (epoch
in progress, next batch, optimizer steps so far), ``sums`` (the running totals of the epoch in
progress, so a resumed epoch reports the whole epoch), the best test accuracy and its epoch, the
per-epoch metrics rows, the RNG states, and ``meta`` (``metadata.training_metadata``). ``meta`` was
added after the first version of the schema, so it is optional on reading: a run started by that
version resumes bit for bit. Every write goes through ``fileio.atomic_path``.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..errors import UsageError
from ..fileio import atomic_path
from .metadata import training_metadata

STATE_FORMAT = "shiftnet-run-1"
# One row per epoch: in last.pt's history and, in this order, the columns of metrics.csv.
METRIC_FIELDS = ["epoch", "lr", "train_loss", "train_acc", "test_loss", "test_acc", "seconds", "images_per_s"]
CONFIG_SECTIONS = ("model", "data", "optim", "run")


@dataclass
class EpochStats:
    """Totals over the batches of one epoch trained so far (saved as the list ``sums``)."""

    loss_sum: float = 0.0  # sum of per-image losses
    correct: int = 0
    seen: int = 0
    seconds: float = 0.0

    def plus(self, loss_sum: float, correct: int, seen: int, seconds: float) -> EpochStats:
        return EpochStats(self.loss_sum + loss_sum, self.correct + correct, self.seen + seen, self.seconds + seconds)

    @property
    def loss(self) -> float:
        return self.loss_sum / max(self.seen, 1)

    @property
    def accuracy(self) -> float:
        return 100.0 * self.correct / max(self.seen, 1)

    def to_list(self) -> list:
        return [self.loss_sum, self.correct, self.seen, self.seconds]


@dataclass
class Progress:
    """Where a run is: the epoch in progress (or next to start), its next batch, and what came before."""

    epoch: int = 0
    batch: int = 0
    step: int = 0
    stats: EpochStats = field(default_factory=EpochStats)
    best_acc: float = -1.0
    best_epoch: int = -1
    history: list = field(default_factory=list)  # METRIC_FIELDS rows of the finished epochs

    @property
    def final_row(self) -> dict | None:
        return self.history[-1] if self.history else None


@dataclass
class RunState:
    """The contents of ``last.pt``; ``to_dict`` and ``from_dict`` are the schema, both ways."""

    config: dict  # Config.to_dict()
    model: dict
    optimizer: dict
    scaler: dict  # empty unless fp16 AMP scales the loss
    rng: dict  # {"torch": CPU generator state, "cuda": that of the run's GPU, when it ran on one}
    progress: Progress
    meta: dict | None = None  # None: written by the schema's first version, which lacked it

    def to_dict(self) -> dict:
        p = self.progress
        return {
            "format": STATE_FORMAT, "config": self.config, "model": self.model, "optimizer": self.optimizer,
            "scaler": self.scaler, "epoch": p.epoch, "batch": p.batch, "step": p.step, "sums": p.stats.to_list(),
            "best_acc": p.best_acc, "best_epoch": p.best_epoch, "history": list(p.history), "rng": self.rng,
            "meta": training_metadata(self.config),
        }

    @classmethod
    def from_dict(cls, data, path: Path) -> RunState:
        """``data`` as ``torch.load`` returned it; a one-line UsageError naming ``path`` if it is not
        a run state of this schema."""
        problem = problem_of(data)
        if problem is not None:
            raise UsageError(f"{path} is not a usable shiftnet run state ({problem})")
        progress = Progress(data["epoch"], data["batch"], data["step"], EpochStats(*data["sums"]), data["best_acc"],
                            data["best_epoch"], list(data["history"]))
        return cls(data["config"], data["model"], data["optimizer"], data.get("scaler") or {}, data["rng"], progress,
                   data.get("meta"))

    def save(self, path: Path) -> None:
        """Serialised in memory first: torch.save reports a full disk as an obscure RuntimeError of its
        zip writer, a plain file write as ENOSPC (which ``atomic_path`` turns into "disk full")."""
        buffer = io.BytesIO()
        torch.save(self.to_dict(), buffer)
        with atomic_path(path) as tmp:
            tmp.write_bytes(buffer.getbuffer())

    @classmethod
    def load(cls, path: Path) -> RunState:
        return cls.from_dict(_torch_load(Path(path)), path)


def _load_failure(exc: Exception) -> str:
    """The useful part of torch.load's message (never its advice to load with weights_only=False)."""
    text = " ".join(str(exc).split())
    if "WeightsUnpickler error:" in text:
        detail = text.split("WeightsUnpickler error:", 1)[1].split("Check the documentation")[0].strip()
        return f"not a torch file of tensors and plain data: {detail[:120]}"
    return text[:200] or type(exc).__name__


def _torch_load(path: Path):
    try:
        if path.stat().st_size == 0:
            raise UsageError(f"{path} is empty (0 bytes), not a shiftnet run state")
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UsageError(f"{path} not found") from None
    except UsageError:
        raise
    except Exception as exc:  # noqa: BLE001 - truncated zip, foreign pickle, a folder, ...
        raise UsageError(f"{path} is not a readable shiftnet run state ({_load_failure(exc)})") from None


_NUMBER = (int, float)


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


_CHECKS = {
    "config": lambda v: isinstance(v, dict) and all(isinstance(v.get(s), dict) for s in CONFIG_SECTIONS),
    "model": lambda v: isinstance(v, dict) and bool(v) and all(isinstance(t, torch.Tensor) for t in v.values()),
    "optimizer": lambda v: isinstance(v, dict),
    "epoch": _is_count, "batch": _is_count, "step": _is_count,
    "sums": lambda v: isinstance(v, list) and len(v) == 4 and all(isinstance(x, _NUMBER) for x in v),
    "best_acc": lambda v: isinstance(v, _NUMBER) and math.isfinite(v),
    "best_epoch": lambda v: isinstance(v, int) and v >= -1,
    "history": lambda v: isinstance(v, list) and all(isinstance(r, dict) and set(METRIC_FIELDS) <= set(r) for r in v),
    "rng": lambda v: (isinstance(v, dict) and isinstance(v.get("torch"), torch.Tensor)
                      and v["torch"].dtype == torch.uint8),
}


def problem_of(data) -> str | None:
    """What makes ``data`` unusable as a run state, or None. Keys added after the schema's first
    version (``meta``; ``scaler`` may be empty) are optional, so older runs still resume."""
    if not isinstance(data, dict):
        return f"a {type(data).__name__}, not a dict"
    if data.get("format") != STATE_FORMAT:
        return f"format {str(data.get('format'))[:40]!r}, not {STATE_FORMAT!r}"
    for key, check in _CHECKS.items():
        if key not in data:
            return f"no {key!r}"
        if not check(data[key]):
            return f"a malformed {key!r}"
    if len(data["history"]) != data["epoch"]:
        return f"{len(data['history'])} epochs of history for epoch {data['epoch']}"
    return None
