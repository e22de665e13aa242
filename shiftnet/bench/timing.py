"""Median wall time of a callable: CUDA events on a GPU, ``perf_counter`` on CPU.

Medians over repeated runs after warm-up, because this kind of machine is shared and noisy; each
call is timed alone (synchronised on GPU) so the numbers of side-by-side rows are comparable.
"""

from __future__ import annotations

import statistics
import time
from typing import Callable

import torch


def median_ms(fn: Callable[[], object], device: torch.device, repeats: int = 10, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    samples = []
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        for _ in range(repeats):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            samples.append(start.elapsed_time(end))
    else:
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            samples.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(samples)


def interleaved_medians(fns: dict[str, Callable[[], object]], device: torch.device, repeats: int = 10,
                        warmup: int = 2) -> dict[str, float]:
    """Median ms of each callable, timed in rounds (one call of each per round) so that a noisy,
    shared machine slows every contender alike and their ratios stay meaningful."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            samples[name].append(median_ms(fn, device, repeats=1, warmup=0))
    return {name: statistics.median(values) for name, values in samples.items()}
