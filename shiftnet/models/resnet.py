"""The 3-stage CIFAR ResNet skeleton shared by every model (docs/original.md#skeleton), in the spirit of nanoGPT.

stem conv3x3 -> BN -> ReLU, three stages of n blocks (strides 1, 2, 2), 8x8 average pool, linear.
Which block fills the stages is the arch's registry entry (``archs.py``); everything else is common.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from ..kernels.op import check_impl
from .archs import get_arch
from .spec import ModelSpec


class CifarResNet(nn.Module):
    """Any registered architecture (ResNet, ShiftResNet, DepthwiseResNet, ...) for 32x32 inputs, from a ModelSpec."""

    def __init__(self, spec: ModelSpec, shift_impl: str | None = None):
        super().__init__()
        self.shift_impl = check_impl(shift_impl)
        self.spec = spec = spec.validated()
        w1, w2, w3 = spec.stage_widths
        self.conv1 = nn.Conv2d(3, w1, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(w1)
        self._in_planes = w1
        self.layer1 = self._make_stage(w1, stride=1)
        self.layer2 = self._make_stage(w2, stride=2)
        self.layer3 = self._make_stage(w3, stride=2)
        self.linear = nn.Linear(w3, spec.num_classes)

    def _make_block(self, in_planes: int, planes: int, stride: int) -> nn.Module:
        spec = self.spec
        return get_arch(spec.arch).make_block(in_planes, planes, stride, spec.mid_width(planes), spec.shortcut_rule,
                                              self.shift_impl)

    def _make_stage(self, planes: int, stride: int) -> nn.Sequential:
        blocks = []
        for index in range(self.spec.blocks_per_stage):
            blocks.append(self._make_block(self._in_planes, planes, stride if index == 0 else 1))
            self._in_planes = planes
        return nn.Sequential(*blocks)

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = F.avg_pool2d(out, out.shape[-1])  # the seed's AvgPool(8) on the 8x8 map
        return self.linear(out.flatten(1))
