"""The shift under torch.compile's inductor (CPU): fused into its neighbours, and bit-identical to eager.

The oracle for values is the eager op (itself checked against an independent one-hot convolution in
test_shift.py); the oracle for fusion is inductor's own generated code (what TORCH_LOGS=output_code
prints), read back with ``run_and_get_code``.
"""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest
import torch
from torch._inductor.utils import run_and_get_code

from shiftnet.kernels import shift
from shiftnet.models import ShiftConv

SPECIAL = (float("nan"), float("inf"), float("-inf"), -0.0)


def _with_special_values(x: torch.Tensor) -> torch.Tensor:
    flat = x.detach().clone().view(-1)
    positions = torch.randperm(flat.numel(), generator=torch.Generator().manual_seed(0))[: 4 * len(SPECIAL)]
    for index, position in enumerate(positions.tolist()):
        flat[position] = SPECIAL[index % len(SPECIAL)]
    return flat.view_as(x)


def _same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal including NaN positions and the sign of zero."""
    def raw(t):
        return t.contiguous().view(-1).view(torch.uint8)

    return a.shape == b.shape and torch.equal(raw(a), raw(b))


@pytest.mark.parametrize("kernel_size,dilation", [(3, 1), (5, 2), (3, 9)])
def test_compiled_shift_is_bit_identical_forward_and_backward(kernel_size, dilation):
    torch._dynamo.reset()
    fn = torch.compile(lambda t: shift(t, kernel_size, dilation), dynamic=True, fullgraph=True)
    for dtype, (n, c, h, w), channels_last in [
        (torch.float32, (3, 20, 9, 7), False), (torch.float32, (2, 27, 8, 8), True),
        (torch.float64, (2, 9, 5, 11), False), (torch.bfloat16, (4, 50, 6, 6), True),
        (torch.float32, (2, 5, 4, 4), False),
    ]:
        x = _with_special_values(torch.randn(n, c, h, w, dtype=dtype))
        if channels_last:
            x = x.to(memory_format=torch.channels_last)
        x.requires_grad_(True)
        grad_out = _with_special_values(torch.randn(n, c, h, w, dtype=dtype))
        y_eager = shift(x, kernel_size, dilation)
        y = fn(x)
        (g_eager,) = torch.autograd.grad(y_eager, x, grad_out)
        (g,) = torch.autograd.grad(y, x, grad_out)
        assert _same_bits(y, y_eager), (dtype, (n, c, h, w), channels_last)
        assert _same_bits(g, g_eager), (dtype, (n, c, h, w), channels_last)


def test_shift_is_fused_into_bn_relu_and_their_backward():
    """No separate shift pass: the forward kernel that applies BN + ReLU writes the shifted tensor,
    and the backward kernel of ReLU/BN reads the gradient through the transposed shift."""
    torch._dynamo.reset()
    torch.manual_seed(0)
    block = ShiftConv(16, 16, stride=1, mid=16)
    compiled = torch.compile(block, fullgraph=True)
    x = torch.randn(4, 16, 8, 8, requires_grad=True)

    def step():
        compiled(x).sum().backward()

    _, (forward_code, backward_code) = run_and_get_code(step)
    for code in (forward_code, backward_code):
        assert "shiftnet.shift" not in code and "shiftnet::shift" not in code  # never called as an opaque op
    fused_forward = [line for line in forward_code.splitlines() if "relu_shift" in line and "async_compile" in line]
    fused_backward = [line for line in backward_code.splitlines()
                      if "shift" in line and "threshold_backward" in line and "async_compile" in line]
    assert fused_forward and fused_backward, "the shift is not fused with ReLU forward / ReLU backward"


def test_compiled_shiftconv_training_step_matches_eager():
    """The whole block compiled vs eager: not bit-identical (inductor sums BN statistics in another
    order), so the measured difference is bounded at float32 rounding level."""
    torch._dynamo.reset()
    torch.manual_seed(0)
    eager_block = ShiftConv(16, 32, stride=2, mid=96)
    block = copy.deepcopy(eager_block)
    compiled = torch.compile(block, fullgraph=True)
    x = torch.randn(8, 16, 16, 16)
    x_eager, x_compiled = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    y_eager, y = eager_block(x_eager), compiled(x_compiled)
    y_eager.square().sum().backward()
    y.square().sum().backward()
    pairs = [("output", y, y_eager), ("input grad", x_compiled.grad, x_eager.grad)]
    pairs += [
        (name, got.grad, want.grad) for (name, got), want in zip(block.named_parameters(), eager_block.parameters())
    ]
    pairs += [
        (name, got, want)
        for (name, got), want in zip(block.named_buffers(), eager_block.buffers())
        if got.is_floating_point()
    ]
    for name, got, want in pairs:
        error = ((got - want).abs().max() / want.abs().max().clamp_min(1e-12)).item()
        assert error < 1e-5, f"{name}: max difference {error:.2e} of the largest value"


def test_eager_use_never_imports_inductor():
    """The lowering is taught to inductor only when something traces the op (inductor is slow to import)."""
    code = ("import sys, torch; from shiftnet.kernels import shift; from shiftnet.models import create_model;"
            "m = create_model('shiftresnet20', expansion=1); m(torch.randn(2, 3, 32, 32)).sum().backward();"
            "shift(torch.randn(1, 9, 4, 4));"
            "print('torch._inductor.lowering' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.strip() == "False"
