"""Accuracy of a model on a split: summed loss, correct and total (so batch size never matters).

Sums, not per-batch means, are accumulated (PR #5 of the seed fixed exactly this on the uneven last
batch) and counted in int64 (the seed's eval.py still printed an integer-division accuracy).
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F

from .distributed import DistInfo, all_reduce_sum


def autocast(device: torch.device, amp: str):
    if amp == "off":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16 if amp == "bf16" else torch.float16)


@torch.no_grad()
def evaluate(model: torch.nn.Module, batches, device: torch.device, amp: str = "off",
             limit_batches: int | None = None, dist_info: DistInfo | None = None) -> dict:
    """{"loss", "correct", "total", "accuracy" (percent)} over ``batches`` of (inputs, labels)."""
    was_training = model.training
    model.eval()
    sums = torch.zeros(3, dtype=torch.float64, device=device)  # loss sum, correct, total
    try:
        for index, (inputs, labels) in enumerate(batches):
            if limit_batches is not None and index >= limit_batches:
                break
            with autocast(device, amp):
                logits = model(inputs)
            sums[0] += F.cross_entropy(logits.float(), labels, reduction="sum").double()
            sums[1] += (logits.argmax(1) == labels).sum()
            sums[2] += labels.numel()
    finally:
        model.train(was_training)
    if dist_info is not None:
        sums = all_reduce_sum(dist_info, sums)
    loss_sum, correct, total = sums.tolist()
    total = int(total)
    return {"loss": loss_sum / max(total, 1), "correct": int(correct), "total": total,
            "accuracy": 100.0 * correct / max(total, 1)}
