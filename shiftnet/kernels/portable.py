"""The shift in standard tensor operators only, for models that must leave PyTorch (ONNX, TorchScript).

``shiftnet::shift`` is a custom op: ``torch.export`` keeps it as one opaque node that ONNX runtimes,
TorchScript and mobile back ends do not know. Written with pad, slice, stack, reshape and concat,
the same function traces into operators every runtime has. It is a pure copy (each output element
is an input element or a zero from the padding), so it is exact for every input, NaN and inf
included; the one-hot depthwise convolution would also export, but multiplies by zero and so
turns a non-finite neighbour into NaN. Speed: see ``shiftnet bench infer``.

Layout of the channels (the original kernel's interleaved map, ``mapping.py``): the first
``Cs = floor(C/k²)·k²`` channels viewed as (C/k², k², H, W) put channel c's group ``c mod k²`` on the
second axis, so each group is one slice of that view, shifted by one window of the padded input.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .mapping import group_offset, shifted_channels, validate_shift_args


def shift_portable(x: Tensor, kernel_size: int = 3, dilation: int = 1) -> Tensor:
    """Equal to ``shiftnet.kernels.shift(x, kernel_size, dilation)``, in standard operators."""
    n, channels, height, width = x.shape
    groups = kernel_size * kernel_size
    cs = shifted_channels(channels, kernel_size)
    if cs == 0:
        return x
    reach = dilation * (kernel_size // 2)
    padded = F.pad(x[:, :cs], (reach, reach, reach, reach)).reshape(n, cs // groups, groups, height + 2 * reach,
                                                                       width + 2 * reach)
    windows = []
    for group in range(groups):
        dy, dx = group_offset(group, kernel_size, dilation)
        windows.append(padded[:, :, group, reach + dy : reach + dy + height, reach + dx : reach + dx + width])
    moved = torch.stack(windows, dim=2).reshape(n, cs, height, width)
    return moved if cs == channels else torch.cat([moved, x[:, cs:]], dim=1)


class PortableShift(nn.Module):
    """Drop-in replacement of ``Shift`` for export (same arguments, no parameters or buffers)."""

    def __init__(self, kernel_size: int = 3, dilation: int = 1):
        super().__init__()
        validate_shift_args(kernel_size, dilation)
        self.kernel_size, self.dilation = kernel_size, dilation

    def forward(self, x: Tensor) -> Tensor:
        return shift_portable(x, self.kernel_size, self.dilation)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, dilation={self.dilation}"
