"""The shift as an inductor loop body, so ``torch.compile`` fuses it into its neighbours.

In eager mode ``shiftnet::shift`` is an opaque custom op (the PyTorch path or the CUDA kernel). Left
opaque under ``torch.compile``, it costs whole memory passes of its own: inductor must write the
BN + ReLU output that feeds it, the op copies that into its own output, and the 1x1 conv reads the
copy (and the same again in backward). But a shift moves data and computes nothing: output element
``(n, c, y, x)`` is input element ``(n, c, y + dy(c), x + dx(c))``, or zero outside the image, with
``dy, dx`` closed-form functions of ``c`` (the interleaved map of ``mapping.py``). Lowered as an
inductor ``Pointwise`` node with exactly that index expression, the shift becomes a masked load
inside whatever kernel produces or consumes it: the BN + ReLU kernel writes the shifted tensor
directly, and in backward the transposed shift is a load inside the ReLU/BN backward kernel.

The lowering is registered the first time the op's fake kernel runs, i.e. the first time anything
traces the op (``torch.compile``, ``torch.export``), so eager use never imports inductor (slow to
import). Every value is copied or set to zero, never computed, so the compiled shift equals the
eager one bit for bit, ``-0.0``, NaN and inf included; the ``impl`` argument does not matter there.
"""

from __future__ import annotations

import threading

import torch

_lock = threading.Lock()
_registered = False


def register_inductor_lowering() -> bool:
    """Teach inductor the shift's loop body (idempotent). False if this torch's inductor lacks the
    internals used here; the op then stays an opaque node and compiled runs are merely slower."""
    global _registered
    with _lock:
        if _registered:
            return True
        try:
            from torch._inductor.lowering import register_lowering  # noqa: F401  (probe before committing)
        except Exception:  # noqa: BLE001 - inductor absent or changed: the opaque op still works
            return False
        _register()
        _registered = True
        return True


def _register() -> None:
    import sympy
    from torch._inductor.ir import Pointwise
    from torch._inductor.lowering import register_lowering
    from torch._inductor.virtualized import ops
    from torch.utils._sympy.functions import FloorDiv, ModularIndexing

    def index(expr):
        return ops.index_expr(sympy.sympify(expr), torch.int64)

    def inside(value, size):
        return ops.and_(ops.ge(index(value), index(0)), ops.lt(index(value), index(size)))

    @register_lowering(torch.ops.shiftnet.shift.default, type_promotion_kind=None)
    def _shift_lowering(x, kernel_size: int, dilation: int, transpose: bool, impl: str):
        del impl  # every implementation computes the same function
        _, channels, height, width = x.get_size()
        groups = kernel_size * kernel_size
        half = kernel_size // 2
        step = -dilation if transpose else dilation
        shifted_channels = FloorDiv(channels, groups) * groups  # the last C mod k² channels pass through
        load = x.make_loader()

        def body(position):
            n, c, y, col = position
            group = ModularIndexing(c, 1, groups)
            src_y = y + step * (FloorDiv(group, kernel_size) - half)
            src_x = col + step * (ModularIndexing(group, 1, kernel_size) - half)
            in_image = ops.and_(inside(src_y, height), inside(src_x, width))
            moved = ops.masked(in_image, lambda: load([n, c, src_y, src_x]), 0.0)
            if sympy.simplify(shifted_channels - channels) == 0:
                return moved
            return ops.where(ops.lt(index(c), index(shifted_channels)), moved, load(position))

        return Pointwise.create(device=x.get_device(), dtype=x.get_dtype(), inner_fn=body, ranges=list(x.get_size()))
