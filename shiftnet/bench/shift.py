"""``shiftnet bench shift``: the shift op against its alternatives and the memory floor.

For each tensor shape a ShiftResNet runs its shifts at (or a shape given by hand) and each dtype,
it times forward and forward+backward of: ``clone()`` (the floor: a shift reads and writes every
element once, like a copy; fwd+bwd floor = two copies), the PyTorch path, the CuPy kernel (CUDA
only) and ``conv``, a depthwise 3x3 conv with fixed one-hot weights (the strongest library
alternative, equal for finite inputs). Achieved GB/s counts bytes read + written.
"""

from __future__ import annotations

import collections

import torch

from ..kernels import shift
from ..models import ModelSpec, create_model
from .timing import median_ms

IMPLS = ("clone", "torch", "cupy", "conv")


def shift_shapes(spec: ModelSpec, batch_size: int) -> collections.Counter:
    """Counter of (N, C, H, W) inputs of the model's shift layers, read off a forward pass."""
    model = create_model(spec).eval()
    shapes: collections.Counter = collections.Counter()
    hooks = [m.register_forward_hook(lambda _m, inputs, _o: shapes.update([tuple(inputs[0].shape[1:])]))
             for m in model.modules() if type(m).__name__ == "Shift"]
    with torch.no_grad():
        model(torch.zeros(1, 3, 32, 32))
    for hook in hooks:
        hook.remove()
    return collections.Counter({(batch_size, *shape): count for shape, count in shapes.items()})


def _forward(impl: str, x: torch.Tensor) -> torch.Tensor:
    if impl == "clone":
        return x.clone()
    return shift(x, 3, 1, impl=impl)


def bench_one(impl: str, shape, dtype: torch.dtype, device: torch.device, channels_last: bool, repeats: int) -> dict:
    """Times of one implementation on one shape; fwd+bwd of clone = two copies (its true floor)."""
    x = torch.randn(shape, device=device).to(dtype)
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    grad = torch.randn_like(x)
    fwd = median_ms(lambda: _forward(impl, x), device, repeats)
    if impl == "clone":
        both = median_ms(lambda: (x.clone(), grad.clone()), device, repeats)
    else:
        xg = x.detach().requires_grad_(True)
        both = median_ms(lambda: torch.autograd.grad(_forward(impl, xg), xg, grad), device, repeats)
    bytes_moved = 2 * x.numel() * x.element_size()
    return {
        "impl": impl, "shape": list(shape), "dtype": str(dtype).replace("torch.", ""), "channels_last": channels_last,
        "device": device.type, "fwd_ms": fwd, "fwd_gbps": bytes_moved / fwd / 1e6,
        "fwdbwd_ms": both, "fwdbwd_gbps": 2 * bytes_moved / both / 1e6,
    }


def run_shift_bench(shapes, dtypes, impls, device: torch.device, channels_last: bool, repeats: int, progress=None) -> list[dict]:
    """Rows for every (shape, dtype, impl), each with its ratio to clone of the same shape and dtype."""
    rows = []
    for shape in shapes:
        for dtype in dtypes:
            group = {}
            for impl in impls:
                group[impl] = bench_one(impl, shape, dtype, device, channels_last, repeats)
                if progress is not None:
                    progress()
            floor = group.get("clone")
            for row in group.values():
                if floor is not None:
                    row["fwd_x_clone"] = row["fwd_ms"] / floor["fwd_ms"]
                    row["fwdbwd_x_clone"] = row["fwdbwd_ms"] / floor["fwdbwd_ms"]
                rows.append(row)
    return rows
