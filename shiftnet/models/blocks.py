"""Residual blocks of the seed: BasicBlock, ShiftConv and the depthwise-with-skip block.

Attribute names (``conv1``, ``bn1``, ``shift2``, ``conv2``, ``bn2``, ``shortcut``) are those of the
original modules so that the original checkpoints' state dicts load key for key (docs/original.md#skeleton).
Every block takes ``(in_planes, planes, stride, mid=, shortcut_rule=)``: the inner width comes from
the spec's knob (``knobs.py``) and is never recomputed here; ``archs.py`` lists each block's layers.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from ..kernels import Shift


def needs_projection(in_planes: int, planes: int, mid: int, stride: int, rule: str) -> bool:
    """Whether the shortcut is a 1x1 conv + BN (docs/original.md#shortcuts).

    ``current`` (2018-01-19 on): stride != 1 or Cin != C. ``legacy`` (Nov 2017 tables): stride != 1
    or Cin != M, which with block reduction puts a projection in every block.
    """
    if stride != 1:
        return True
    return in_planes != (mid if rule == "legacy" else planes)


def make_shortcut(in_planes: int, planes: int, stride: int, mid: int, rule: str) -> nn.Sequential:
    """The block's shortcut under ``rule``: an empty Sequential (identity), or ``0`` = 1x1 conv Cin->C with
    the stride and ``1`` = BN(C)."""
    if not needs_projection(in_planes, planes, mid, stride, rule):
        return nn.Sequential()
    return nn.Sequential(
        nn.Conv2d(in_planes, planes, kernel_size=1, stride=stride, bias=False),
        nn.BatchNorm2d(planes),
    )


class BasicBlock(nn.Module):
    """Post-activation ResNet block: ReLU(BN(conv3x3(ReLU(BN(conv3x3(x))))) + shortcut(x)).

    ``mid`` is the internal width M (block reduction shrinks only it); the stride is in conv1.
    """

    def __init__(self, in_planes: int, planes: int, stride: int = 1, mid: int | None = None,
                 shortcut_rule: str = "current"):
        super().__init__()
        mid = planes if mid is None else mid
        self.conv1 = nn.Conv2d(in_planes, mid, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = make_shortcut(in_planes, planes, stride, mid, shortcut_rule)

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ShiftConv(nn.Module):
    """Conv-shift-conv replacing a whole BasicBlock (docs/original.md#blocks).

    ReLU(BN(conv1x1_stride(shift(ReLU(BN(conv1x1(x))))))) + shortcut(x): the ReLU comes *before* the
    residual add and there is none after it, so block outputs can be negative. The shift runs at
    the input resolution; the stride sits in the second 1x1 conv. ``mid`` is the inner width M, which
    the spec computes (int(e·C), C = output width); the original always used the current shortcut rule.
    """

    def __init__(self, in_planes: int, planes: int, stride: int = 1, mid: int | None = None,
                 shortcut_rule: str = "current", shift_impl: str | None = None):
        super().__init__()
        mid = planes if mid is None else mid
        self.conv1 = nn.Conv2d(in_planes, mid, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.shift2 = Shift(kernel_size=3, dilation=1, impl=shift_impl)
        self.conv2 = nn.Conv2d(mid, planes, kernel_size=1, stride=stride, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = make_shortcut(in_planes, planes, stride, mid, shortcut_rule)

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.shift2(out)
        out = F.relu(self.bn2(self.conv2(out)))
        return out + self.shortcut(x)  # out of place: the seed's in-place add breaks modern autograd


class DepthwiseBlock(nn.Module):
    """Depthwise-with-skip block (docs/original.md#blocks):
    1x1 -> BN -> ReLU -> dw3x3 -> BN -> 1x1 (stride) -> BN, + skip, ReLU.

    Attribute names follow the seed's DepthWiseWithSkipBlock: conv1/bn1, conv2/bn2 (depthwise),
    conv3/bn3, shortcut.
    """

    def __init__(self, in_planes: int, planes: int, stride: int = 1, mid: int | None = None,
                 shortcut_rule: str = "current"):
        super().__init__()
        mid = planes if mid is None else mid
        self.conv1 = nn.Conv2d(in_planes, mid, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, mid, kernel_size=3, padding=1, groups=mid, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(mid, planes, kernel_size=1, stride=stride, bias=False)
        self.bn3 = nn.BatchNorm2d(planes)
        self.shortcut = make_shortcut(in_planes, planes, stride, mid, shortcut_rule)

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out = self.bn3(self.conv3(out))
        return F.relu(out + self.shortcut(x))
