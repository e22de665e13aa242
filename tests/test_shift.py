"""The shift op against an independent formulation, its adjoint, gradients and dispatch rules."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from shiftnet.kernels import Shift, channel_offsets, shift
from shiftnet.kernels.reference import shift_torch

DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]


def one_hot_depthwise(x: torch.Tensor, kernel_size: int, dilation: int, transpose: bool = False) -> torch.Tensor:
    """Independent definition (docs/original.md#shift): depthwise cross-correlation with one-hot k x k kernels,
    built straight from the interleaved rule, computed in float64 (exact for a shift)."""
    channels = x.shape[1]
    groups = kernel_size * kernel_size
    shifted = (channels // groups) * groups
    weight = torch.zeros(channels, 1, kernel_size, kernel_size, dtype=torch.float64)
    half = kernel_size // 2
    for c in range(channels):
        i, j = ((c % groups) // kernel_size, c % kernel_size) if c < shifted else (half, half)
        if transpose:
            i, j = kernel_size - 1 - i, kernel_size - 1 - j
        weight[c, 0, i, j] = 1.0
    out = F.conv2d(x.double(), weight, padding=dilation * half, dilation=dilation, groups=channels)
    return out.to(x.dtype)


CASES = list(itertools.product(
    [1, 5, 16, 20, 50],  # channels, mostly not multiples of 9
    [(1, 1), (3, 1), (3, 2), (5, 1), (5, 2), (7, 1), (3, 9)],  # (kernel_size, dilation); the last shifts past the image
    [(1, 7, 9), (3, 8, 8), (4, 1, 1)],  # (N, H, W)
))


@pytest.mark.parametrize("channels,kd,nhw", CASES)
@pytest.mark.parametrize("channels_last", [False, True])
def test_matches_one_hot_depthwise_conv(channels, kd, nhw, channels_last):
    kernel_size, dilation = kd
    n, h, w = nhw
    x = torch.randn(n, channels, h, w, dtype=torch.float64)
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    assert torch.equal(shift(x, kernel_size, dilation), one_hot_depthwise(x, kernel_size, dilation))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("channels_last", [False, True])
def test_every_dtype_and_memory_format(dtype, channels_last):
    x = torch.randn(3, 23, 10, 12).to(dtype)
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    y = shift(x)
    assert y.dtype == dtype
    assert torch.equal(y, one_hot_depthwise(x, 3, 1))
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    assert y.is_contiguous(memory_format=fmt)


def test_channel_map_is_interleaved_mod_9_with_unshifted_remainder():
    # the table of docs/original.md#shift: c mod 9 -> (dy, dx); the last C mod 9 channels do not move
    table = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 0), (0, 1), (1, -1), (1, 0), (1, 1)]
    offsets = channel_offsets(20)
    assert offsets[:18] == table + table
    assert offsets[18:] == [(0, 0), (0, 0)]
    # an impulse in channel 0 moves down-right, channel 8 up-left, channel 18 (remainder) stays
    x = torch.zeros(1, 20, 5, 5)
    x[:, :, 2, 2] = 1
    y = shift(x)
    assert y[0, 0, 3, 3] == 1 and y[0, 8, 1, 1] == 1 and y[0, 18, 2, 2] == 1 and y[0, 5, 2, 1] == 1
    assert y.sum() == 20


def test_non_contiguous_input():
    base = torch.randn(2, 30, 9, 11)
    x = base[:, ::2, :, 1:]  # neither NCHW- nor NHWC-dense
    assert torch.equal(shift(x), one_hot_depthwise(x.contiguous(), 3, 1))


@pytest.mark.parametrize("channels_last", [False, True])
def test_backward_is_the_adjoint(channels_last):
    x = torch.randn(3, 25, 6, 7, dtype=torch.float64, requires_grad=True)
    g = torch.randn(3, 25, 6, 7, dtype=torch.float64)
    if channels_last:
        g = g.to(memory_format=torch.channels_last)
    (grad,) = torch.autograd.grad(shift(x, 3, 1), x, g)
    assert torch.equal(grad, one_hot_depthwise(g, 3, 1, transpose=True))
    # <shift(x), g> == <x, shift^T(g)>
    assert torch.allclose((shift(x.detach()) * g).sum(), (x.detach() * grad).sum())


@pytest.mark.parametrize("kd", [(3, 1), (5, 2)])
def test_gradcheck_float64(kd):
    """Analytic against numerical derivatives, first and second order. Fast mode compares them along
    random directions (any Jacobian entry that differs shows), not the 660 x 660 Jacobians entry by
    entry: the backward is checked exactly against the one-hot adjoint above."""
    x = torch.randn(2, 11, 5, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: shift(t, *kd), (x,), fast_mode=True)
    assert torch.autograd.gradgradcheck(lambda t: shift(t, *kd), (x,), fast_mode=True)


class _AllocationCounter(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.allocations = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        if name.startswith("empty") or name in ("zeros", "zeros_like", "clone", "contiguous", "new_empty", "new_zeros"):
            self.allocations.append(name)
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("channels_last", [False, True])
def test_forward_allocates_only_its_output(channels_last):
    x = torch.randn(4, 50, 8, 8)
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    with _AllocationCounter() as counter:  # the op's body: the custom op itself is opaque to the mode
        shift_torch(x, 3, 1, False)
        shift_torch(x, 3, 1, True)
    assert counter.allocations == ["empty_like", "empty_like"], counter.allocations


def test_module_has_no_parameters_or_buffers():
    module = Shift(3, 1)
    assert list(module.parameters()) == [] and list(module.buffers()) == []
    assert module.state_dict() == {}
    assert "kernel_size=3" in repr(module)


@pytest.mark.parametrize("kwargs,message", [
    ({"kernel_size": 2}, "odd"), ({"kernel_size": 0}, "odd"), ({"dilation": 0}, "dilation"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        shift(torch.zeros(1, 9, 4, 4), **kwargs)


def test_rejects_non_4d_and_bad_impl(monkeypatch):
    with pytest.raises(ValueError, match="4-D"):
        shift(torch.zeros(9, 4, 4))
    with pytest.raises(ValueError, match="needs a CUDA tensor"):
        shift(torch.zeros(1, 9, 4, 4), impl="cupy")
    with pytest.raises(ValueError, match="impl must be one of"):
        shift(torch.zeros(1, 9, 4, 4), impl="triton")
    monkeypatch.setenv("SHIFTNET_SHIFT_IMPL", "nope")
    with pytest.raises(ValueError, match="SHIFTNET_SHIFT_IMPL"):
        shift(torch.zeros(1, 9, 4, 4))
    monkeypatch.setenv("SHIFTNET_SHIFT_IMPL", "torch")
    assert torch.equal(shift(torch.ones(1, 9, 4, 4)), one_hot_depthwise(torch.ones(1, 9, 4, 4), 3, 1))


def test_is_one_opaque_op_under_torch_compile():
    """fullgraph=True fails on any graph break; the custom op must appear as a single node."""
    torch._dynamo.reset()
    seen = []

    def backend(gm, example_inputs):
        seen.extend(str(node.target) for node in gm.graph.nodes if node.op == "call_function")
        return gm.forward

    fn = torch.compile(lambda t: shift(t * 2.0, 3, 1) + 1.0, backend=backend, fullgraph=True)
    x = torch.randn(2, 13, 6, 6)
    assert torch.equal(fn(x), shift(x * 2.0, 3, 1) + 1.0)
    assert sum("shiftnet.shift" in target for target in seen) == 1, seen


def test_compiled_training_step_matches_eager():
    torch._dynamo.reset()
    x = torch.randn(2, 13, 6, 6, requires_grad=True)
    compiled = torch.compile(lambda t: shift(t, 3, 1).square().sum(), backend="aot_eager", fullgraph=True)
    (g_compiled,) = torch.autograd.grad(compiled(x), x)
    (g_eager,) = torch.autograd.grad(shift(x, 3, 1).square().sum(), x)
    assert torch.equal(g_compiled, g_eager)


@pytest.mark.parametrize("channels_last", [False, True])
def test_conv_impl_equals_the_shift_for_finite_inputs(channels_last):
    x = torch.randn(3, 23, 9, 7, dtype=torch.float64, requires_grad=True)
    g = torch.randn(3, 23, 9, 7, dtype=torch.float64)
    if channels_last:
        x = x.detach().to(memory_format=torch.channels_last).requires_grad_(True)
    y = shift(x, 3, 1, impl="conv")
    (grad,) = torch.autograd.grad(y, x, g)
    assert torch.equal(y, shift(x, 3, 1, impl="torch"))
    assert torch.equal(grad, one_hot_depthwise(g, 3, 1, transpose=True))
    # the documented difference: a non-finite value spreads to neighbours, the exact paths keep it in place
    z = torch.zeros(1, 9, 4, 4)
    z[0, 4, 1, 1] = float("inf")
    assert torch.isnan(shift(z, impl="conv")).any() and not torch.isnan(shift(z, impl="torch")).any()
