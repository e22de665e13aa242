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
from .timing import interleaved_medians


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


def _contenders(impl: str, shape, dtype: torch.dtype, device: torch.device, channels_last: bool):
    """(forward, forward+backward) callables of one implementation on fresh tensors of ``shape``.
    fwd+bwd of clone is two copies (input and gradient): the true floor of a shift's round trip."""
    x = torch.randn(shape, device=device).to(dtype)
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    grad = torch.randn_like(x)
    if impl == "clone":
        return (lambda: x.clone()), (lambda: (x.clone(), grad.clone())), x
    xg = x.detach().requires_grad_(True)
    return (lambda: _forward(impl, x)), (lambda: torch.autograd.grad(_forward(impl, xg), xg, grad)), x


def run_shift_bench(shapes, dtypes, impls, device: torch.device, channels_last: bool, repeats: int,
                    progress=None) -> list[dict]:
    """Rows for every (shape, dtype, impl), each with its ratio to clone of the same shape and dtype;
    the implementations of one shape are timed in interleaved rounds."""
    rows = []
    for shape in shapes:
        for dtype in dtypes:
            contenders = {impl: _contenders(impl, shape, dtype, device, channels_last) for impl in impls}
            fwd = interleaved_medians({i: c[0] for i, c in contenders.items()}, device, repeats)
            both = interleaved_medians({i: c[1] for i, c in contenders.items()}, device, repeats)
            for impl, (_, _, x) in contenders.items():
                bytes_moved = 2 * x.numel() * x.element_size()
                row = {
                    "impl": impl, "shape": list(shape), "dtype": str(dtype).replace("torch.", ""),
                    "channels_last": channels_last,
                    "device": device.type, "fwd_ms": fwd[impl], "fwd_gbps": bytes_moved / fwd[impl] / 1e6,
                    "fwdbwd_ms": both[impl], "fwdbwd_gbps": 2 * bytes_moved / both[impl] / 1e6,
                }
                if "clone" in fwd:
                    row["fwd_x_clone"] = fwd[impl] / fwd["clone"]
                    row["fwdbwd_x_clone"] = both[impl] / both["clone"]
                rows.append(row)
            del contenders
            if progress is not None:
                progress()
    return rows
