"""Batch norm over the global batch of all DDP processes, on any device.

``torch.nn.SyncBatchNorm`` only runs on CUDA, but a CPU (gloo) DDP run must match a single process
with the same global batch. This BatchNorm2d subclass sums per-channel x and x² and the element
count across processes with an autograd-aware all-reduce (its backward all-reduces the gradient),
so the backward pass also sums the statistic gradients across processes, exactly as SyncBatchNorm
does. State-dict keys are those of BatchNorm2d, so checkpoints do not change.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn


class _AllReduceSum(torch.autograd.Function):
    """Sum over processes, differentiable: the gradient of a sum is the sum of the gradients."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:
        out = tensor.clone()
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class CrossProcessBatchNorm2d(nn.BatchNorm2d):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        channels = x.shape[1]
        count = torch.full((1,), x.numel() / channels, dtype=x.dtype, device=x.device)
        stats = _AllReduceSum.apply(torch.cat([x.sum(dim=(0, 2, 3)), (x * x).sum(dim=(0, 2, 3)), count]))
        total = stats[-1]
        mean = stats[:channels] / total
        var = stats[channels : 2 * channels] / total - mean * mean
        if self.track_running_stats:
            with torch.no_grad():
                momentum = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked + 1)
                self.running_mean.mul_(1 - momentum).add_(momentum * mean.detach())
                self.running_var.mul_(1 - momentum).add_(momentum * var.detach() * total / (total - 1))
                self.num_batches_tracked.add_(1)
        shape = (1, channels, 1, 1)
        out = (x - mean.view(shape)) * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        return out


def convert(module: nn.Module) -> nn.Module:
    """Replace every BatchNorm2d (parameters and buffers kept) by CrossProcessBatchNorm2d."""
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d) and not isinstance(child, CrossProcessBatchNorm2d):
            replacement = CrossProcessBatchNorm2d(child.num_features, child.eps, child.momentum, child.affine,
                                                  child.track_running_stats)
            replacement = replacement.to(child.weight.device if child.affine else None)
            replacement.load_state_dict(child.state_dict())
            setattr(module, name, replacement)
        else:
            convert(child)
    return module
