"""``shiftnet bench train``: training and eval images/s of several models, side by side in one run.

Synthetic CIFAR-shaped batches (so data loading is not measured here; ``bench loader`` does that),
SGD with momentum and weight decay as in the recipe, a few warm-up steps, then the median of timed
steps. Also reports the share of a training step spent in kernel (sys) time, which exposed the
glibc page-fault trap (runtime.tune_allocator) on CPU.
"""

from __future__ import annotations

import os
import statistics
import time

import torch
import torch.nn.functional as F

from ..engine.evaluate import autocast
from ..models import ModelSpec, count_params, create_model, set_shift_impl


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_model(spec: ModelSpec, batch_size: int, device: torch.device, steps: int, warmup: int,
                channels_last: bool, amp: str, compile_model: bool, eval_batch_size: int, shift_impl: str | None = None) -> dict:
    torch.manual_seed(0)
    model = set_shift_impl(create_model(spec), shift_impl).to(device)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    runner = torch.compile(model) if compile_model else model
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    inputs = torch.randn(batch_size, 3, 32, 32, device=device).contiguous(memory_format=memory_format)
    labels = torch.randint(0, spec.num_classes, (batch_size,), device=device)

    def step():
        with autocast(device, amp):
            loss = F.cross_entropy(runner(inputs).float(), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    model.train()
    for _ in range(warmup):
        step()
    _sync(device)
    times, sys_share = [], []
    for _ in range(steps):
        cpu0, t0 = os.times(), time.perf_counter()
        step()
        _sync(device)
        cpu1, t1 = os.times(), time.perf_counter()
        times.append(t1 - t0)
        sys_share.append((cpu1.system - cpu0.system) / max(t1 - t0, 1e-9))
    eval_inputs = torch.randn(eval_batch_size, 3, 32, 32, device=device).contiguous(memory_format=memory_format)
    model.eval()
    eval_times = []
    with torch.no_grad():
        for index in range(warmup + steps):
            t0 = time.perf_counter()
            with autocast(device, amp):
                runner(eval_inputs)
            _sync(device)
            if index >= warmup:
                eval_times.append(time.perf_counter() - t0)
    train_step = statistics.median(times)
    return {
        "model": spec.name, "params": count_params(model), "batch_size": batch_size, "device": device.type,
        "channels_last": channels_last, "amp": amp, "compile": compile_model, "shift_impl": shift_impl or "auto",
        "train_step_ms": 1e3 * train_step, "train_images_per_s": batch_size / train_step,
        "eval_images_per_s": eval_batch_size / statistics.median(eval_times),
        "sys_fraction": statistics.median(sys_share) / max(torch.get_num_threads() if device.type == "cpu" else 1, 1),
        "steps": steps,
    }
