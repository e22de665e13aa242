"""``shiftnet bench train``: training and eval images/s of several models, side by side in one run.

Synthetic CIFAR-shaped batches (so data loading is not measured here; ``bench loader`` does that),
SGD with momentum and weight decay as in the recipe, through the training loop's own step
(``engine.step.train_step``). The models' steps are *interleaved* (one step of each model per
round, median over rounds), so a shared, noisy machine slows them all alike and their ratio stays
meaningful. Also reports the share of a training step spent in kernel (sys)
time, which exposed the glibc page-fault trap (runtime.tune_allocator) on CPU.

What the shift costs: each ShiftResNet can be timed beside its *twin*, the same network with every
shift replaced by an identity (same weights, same convolutions, no data movement). The ratio of
their step times is the price of the shift in that configuration: the number that shows whether the
shift is fused away under ``torch.compile`` (see ``kernels/inductor.py``) or costs passes of its own.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import NamedTuple

import torch
from torch import nn

from ..engine.evaluate import autocast
from ..engine.step import train_step
from ..enums import FIXED_SHIFT_IMPLS
from ..kernels import Shift
from ..kernels.op import replace_shifts
from ..models import ModelSpec, count_params, create_model

RECOMPILE_LIMIT = 64  # every model and its twin, in train and eval mode, compiles the same forward code


def without_shift(model: nn.Module) -> nn.Module:
    """``model`` with every Shift module replaced by an identity (in place), for the shift-cost twin."""
    return replace_shifts(model, lambda shift: nn.Identity())


def has_shift(model: nn.Module) -> bool:
    return any(isinstance(m, Shift) for m in model.modules())


def _allow_recompiles() -> None:
    config = torch._dynamo.config
    for key in ("recompile_limit", "cache_size_limit"):  # renamed across torch releases
        if hasattr(config, key):
            setattr(config, key, max(getattr(config, key), RECOMPILE_LIMIT))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class _Subject:
    """One model with its optimizer and fixed batches, ready to step."""

    def __init__(self, spec, batch_size, device, channels_last, amp, compile_model, eval_batch_size, shift_impl,
                 twin: bool = False):
        torch.manual_seed(0)
        self.spec, self.device, self.amp, self.twin = spec, device, amp, twin
        self.setup = Setup(channels_last, compile_model, shift_impl)
        memory_format = torch.channels_last if channels_last else torch.contiguous_format
        model = create_model(spec, shift_impl=shift_impl)
        self.model = (without_shift(model) if twin else model).to(device).to(memory_format=memory_format)
        # static shapes: models share one forward, and a dynamic-shape recompile would time other code
        self.runner = torch.compile(self.model, dynamic=False) if compile_model else self.model
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
        self.scaler = torch.amp.GradScaler("cuda", enabled=amp == "fp16" and device.type == "cuda")  # as training
        self.inputs = torch.randn(batch_size, 3, 32, 32, device=device).contiguous(memory_format=memory_format)
        self.labels = torch.randint(0, spec.num_classes, (batch_size,), device=device)
        self.eval_inputs = torch.randn(eval_batch_size, 3, 32, 32, device=device).contiguous(
            memory_format=memory_format)
        self.train_times, self.eval_times, self.sys_share = [], [], []

    def train_step(self, record: bool) -> None:
        self.model.train()
        cpu0, t0 = os.times(), time.perf_counter()
        train_step(self.runner, self.optimizer, self.inputs, self.labels, self.amp, self.scaler)
        _sync(self.device)
        cpu1, t1 = os.times(), time.perf_counter()
        if record:
            self.train_times.append(t1 - t0)
            self.sys_share.append((cpu1.system - cpu0.system) / max(t1 - t0, 1e-9))

    def eval_step(self, record: bool) -> None:
        self.model.eval()
        t0 = time.perf_counter()
        with torch.no_grad(), autocast(self.device, self.amp):
            self.runner(self.eval_inputs)
        _sync(self.device)
        if record:
            self.eval_times.append(time.perf_counter() - t0)

    def row(self, batch_size: int, eval_batch_size: int) -> dict:
        channels_last, compile_model, shift_impl = self.setup
        train_step = statistics.median(self.train_times)
        threads = torch.get_num_threads() if self.device.type == "cpu" else 1
        return {
            "model": self.spec.name, "shift": "identity" if self.twin else "shift", "params": count_params(self.model),
            "batch_size": batch_size,
            "device": self.device.type, "channels_last": channels_last, "amp": self.amp, "compile": compile_model,
            "shift_impl": shift_impl or "auto", "setup": self.setup.label, "train_step_ms": 1e3 * train_step,
            "train_images_per_s": batch_size / train_step,
            "eval_images_per_s": eval_batch_size / statistics.median(self.eval_times),
            "sys_fraction": statistics.median(self.sys_share) / threads, "steps": len(self.train_times),
        }


class Setup(NamedTuple):
    """How a model runs: memory layout, compiled or not, shift implementation (None: automatic)."""

    channels_last: bool = False
    compile: bool = False
    shift_impl: str | None = None

    @property
    def label(self) -> str:
        parts = (["compile"] if self.compile else []) + (["cl"] if self.channels_last else []) + \
            ([self.shift_impl] if self.shift_impl not in (None, "auto") else [])
        return "+".join(parts) or "eager"


SETUP_WORDS = f"eager, compile, cl (channels_last), and a shift implementation: {', '.join(FIXED_SHIFT_IMPLS)}"


def parse_setup(text: str) -> Setup:
    """``eager``, ``compile``, ``cl+conv``, ``compile+cl`` ... (words joined by +)."""
    words = [word.strip() for word in text.lower().split("+") if word.strip()]
    unknown = [word for word in words if word not in ("eager", "compile", "cl", *FIXED_SHIFT_IMPLS)]
    impls = [word for word in words if word in FIXED_SHIFT_IMPLS]
    if not words or unknown or len(impls) > 1 or ("eager" in words and "compile" in words):
        raise ValueError(f"--setup {text[:40]!r}: use words joined by + from {SETUP_WORDS}, e.g. compile+cl")
    return Setup("cl" in words, "compile" in words, impls[0] if impls else None)


def bench_models(specs: list[ModelSpec], batch_size: int, device: torch.device, steps: int, warmup: int,
                 channels_last: bool, amp: str, compile_model: bool, eval_batch_size: int,
                 shift_impl: str | None = None, progress=None, shift_cost: bool = False,
                 setups: list[Setup] | None = None) -> list[dict]:
    """Rows for every model in every setup (default: the one given by ``channels_last``, ``compile_model``
    and ``shift_impl``), timed in interleaved rounds (see the module docstring). With ``shift_cost``,
    each model that has shifts is followed by its identity-shift twin in the same setup, and its row
    gets ``shift_cost``: its training step time over the twin's."""
    setups = setups or [Setup(channels_last, compile_model, shift_impl)]
    if any(setup.compile for setup in setups):
        _allow_recompiles()
    subjects = []
    for spec in specs:
        for setup in setups:
            subjects.append(_Subject(spec, batch_size, device, setup.channels_last, amp, setup.compile, eval_batch_size,
                                     setup.shift_impl))
            if shift_cost and has_shift(subjects[-1].model):
                subjects.append(_Subject(spec, batch_size, device, setup.channels_last, amp, setup.compile,
                                         eval_batch_size, setup.shift_impl, twin=True))
    for round_index in range(warmup + steps):
        for subject in subjects:
            subject.train_step(record=round_index >= warmup)
        if progress is not None:
            progress()
    for round_index in range(warmup + steps):
        for subject in subjects:
            subject.eval_step(record=round_index >= warmup)
    rows = [s.row(batch_size, eval_batch_size) for s in subjects]
    for row, twin in zip(rows, rows[1:]):
        if twin["shift"] == "identity" and row["shift"] == "shift":
            row["shift_cost"] = row["train_step_ms"] / twin["train_step_ms"]
            row["eval_shift_cost"] = twin["eval_images_per_s"] / row["eval_images_per_s"]
    return rows


def bench_model(spec: ModelSpec, batch_size: int, device: torch.device, steps: int, warmup: int,
                channels_last: bool, amp: str, compile_model: bool, eval_batch_size: int,
                shift_impl: str | None = None) -> dict:
    return bench_models([spec], batch_size, device, steps, warmup, channels_last, amp, compile_model, eval_batch_size,
                        shift_impl)[0]
