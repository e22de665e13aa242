"""The public shift op: one ``torch.library`` custom op with a fake kernel and autograd.

Registering ``shiftnet::shift`` as a custom op (rather than a Python ``autograd.Function``) is what
lets ``torch.compile`` treat the shift as a single opaque node and lets the CUDA kernel plug into
the same op. The backward of a shift is the opposite shift (its exact transpose), so the op is its
own gradient with ``transpose`` flipped and there is nothing to save for backward.

Implementation choice: ``impl="auto"`` (default) uses the CuPy kernel for CUDA tensors when CuPy
works and the PyTorch path otherwise; ``"torch"`` or ``"cupy"`` force one. ``"conv"`` runs a
depthwise convolution with one-hot kernels: it is the fastest CPU option for channels_last tensors
(oneDNN vectorises it, see BENCHMARKS.md) and equal to the shift for finite inputs, but not bit-exact
in general (a non-finite value spreads to its neighbours, -0.0 becomes +0.0), so it is never chosen
automatically. The environment variable ``SHIFTNET_SHIFT_IMPL`` sets the default for a process.
"""

from __future__ import annotations

import os

import torch
from torch import Tensor, nn

from ..enums import SHIFT_IMPLS
from .mapping import validate_shift_args
from .reference import shift_conv, shift_torch

ENV_IMPL = "SHIFTNET_SHIFT_IMPL"


def check_impl(impl: str | None) -> str | None:
    """``impl`` itself if it names an implementation (None: decide per call), else one-line ValueError."""
    if impl is not None and impl not in SHIFT_IMPLS:
        raise ValueError(f"shift implementation must be one of {', '.join(SHIFT_IMPLS)}, got {impl!r}")
    return impl


def _resolve_impl(impl: str | None) -> str:
    chosen = impl if impl is not None else os.environ.get(ENV_IMPL, "auto")
    if chosen not in SHIFT_IMPLS:
        source = "impl" if impl is not None else ENV_IMPL
        raise ValueError(f"{source} must be one of {', '.join(SHIFT_IMPLS)}, got {chosen!r}")
    return chosen


def _run(x: Tensor, kernel_size: int, dilation: int, transpose: bool, impl: str) -> Tensor:
    if impl == "conv":
        return shift_conv(x, kernel_size, dilation, transpose)
    if x.device.type == "cuda" and impl != "torch":
        from . import cuda  # imported lazily: CuPy is optional and slow to import

        if impl == "cupy" or cuda.available():
            try:
                return cuda.shift_cuda(x, kernel_size, dilation, transpose)
            except cuda.KernelUnavailable as exc:
                if impl == "cupy":
                    raise
                cuda.warn_fallback_once(str(exc))
        else:
            cuda.warn_fallback_once()
    elif impl == "cupy":
        raise ValueError(f"impl='cupy' needs a CUDA tensor, got one on {x.device}")
    return shift_torch(x, kernel_size, dilation, transpose)


@torch.library.custom_op("shiftnet::shift", mutates_args=())
def shift_op(x: Tensor, kernel_size: int, dilation: int, transpose: bool, impl: str) -> Tensor:
    """Shift (or, with ``transpose``, un-shift) ``x``; see ``shiftnet.kernels.shift``."""
    return _run(x, kernel_size, dilation, transpose, impl)


@shift_op.register_fake
def _shift_fake(x: Tensor, kernel_size: int, dilation: int, transpose: bool, impl: str) -> Tensor:
    _teach_inductor()
    return torch.empty_like(x)


def _teach_inductor() -> None:
    """The fake kernel runs only when something traces the op (torch.compile, torch.export): the
    moment to give inductor the fusable form of the shift (``inductor.py``). Eager never gets here."""
    from . import inductor

    if not inductor._registered:
        from torch.utils._python_dispatch import _disable_current_modes

        with _disable_current_modes():  # import inductor outside the tracer's fake/functional modes
            inductor.register_inductor_lowering()


def _setup_context(ctx, inputs, output) -> None:
    _, ctx.kernel_size, ctx.dilation, ctx.transpose, ctx.impl = inputs


def _backward(ctx, grad: Tensor):
    grad_x = shift_op(grad, ctx.kernel_size, ctx.dilation, not ctx.transpose, ctx.impl)
    return grad_x, None, None, None, None


shift_op.register_autograd(_backward, setup_context=_setup_context)


def shift(x: Tensor, kernel_size: int = 3, dilation: int = 1, *, impl: str | None = None) -> Tensor:
    """Parameter-free spatial shift of the original ShiftResNet (docs/original.md#shift).

    ``Y[n, c, y, x] = X[n, c, y + dy(c), x + dx(c)]`` with zero fill, where channel c < floor(C/k²)·k²
    takes group ``c mod k²`` = (i, j) and (dy, dx) = dilation·(i − k//2, j − k//2); the last
    ``C mod k²`` channels pass through. Works for any float dtype, NCHW or channels_last (the output
    keeps the input's memory format), on CPU and CUDA, under autograd and ``torch.compile``.
    """
    validate_shift_args(kernel_size, dilation)
    if x.dim() != 4:
        raise ValueError(f"shift expects a 4-D (N, C, H, W) tensor, got shape {tuple(x.shape)}")
    return shift_op(x, kernel_size, dilation, False, _resolve_impl(impl))


class Shift(nn.Module):
    """``nn.Module`` wrapper of :func:`shift`; no parameters and no buffers (like the original)."""

    def __init__(self, kernel_size: int = 3, dilation: int = 1, impl: str | None = None):
        super().__init__()
        validate_shift_args(kernel_size, dilation)
        self.kernel_size = kernel_size
        self.dilation = dilation
        self.impl = check_impl(impl)

    def forward(self, x: Tensor) -> Tensor:
        return shift(x, self.kernel_size, self.dilation, impl=self.impl)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, dilation={self.dilation}"


def replace_shifts(model: nn.Module, make) -> nn.Module:
    """Replace every ``Shift`` in ``model`` (in place) by ``make(shift)``; for the bench's identity twin
    and the export's standard-operator shift."""
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, Shift):
                setattr(module, name, make(child))
    return model
