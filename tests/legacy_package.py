"""A stand-in of the seed's code base, written as files (``write_package``): ``models/resnet.py``
(ResNet, BasicBlock, and ShiftConv and DepthWiseWithSkipBlock at their pre-2018-03-28 path),
``models/shiftresnet.py`` (ShiftConv), ``models/depthwiseresnet.py`` (DepthWiseWithSkipBlock),
``models/shiftnet_cuda_v2/nn.py`` and the pre-2018-01-19 top-level ``shiftnet_cuda_v2/nn.py``
(GenericShift_cuda, computed on the CPU). Class, module and attribute names are the seed's, so the
pickles torch writes of its models name what the seed's did (docs/original.md#checkpoints).
"""

from __future__ import annotations

from pathlib import Path

SEED_MEAN = (0.4914, 0.4822, 0.4465)  # the seed's Normalize for both data sets (its main.py / README)
SEED_STD = (0.2023, 0.1994, 0.2010)

_SHIFT_NN = '''"""CPU stand-in of the seed's CUDA shift module: same class and attribute names, same result."""
import torch
import torch.nn.functional as F


def shift(x, kernel_size, dilation):
    """Channel c < floor(C/k^2)*k^2 reads from (row (c // k) % k, column c % k) - k // 2, times the
    dilation, zeros outside; the remaining channels stay. The channels of one direction are
    those with c mod k^2 = row * k + column."""
    n, c, h, w = x.shape
    k, d = kernel_size, dilation
    moved = (c // (k * k)) * k * k
    padded = F.pad(x, (d * (k // 2),) * 4)
    out = x.clone()
    for group in range(k * k):
        y0, x0 = d * (group // k), d * (group % k)
        out[:, group:moved:k * k] = padded[:, group:moved:k * k, y0:y0 + h, x0:x0 + w]
    return out


class GenericShift_cuda(torch.nn.Module):
    def __init__(self, kernel_size, dilate_factor=1):
        super(GenericShift_cuda, self).__init__()
        self._kernel_size = kernel_size
        self._dilate_factor = dilate_factor

    def forward(self, x):
        return shift(x, self._kernel_size, self._dilate_factor)


class Shift3x3_cuda(torch.nn.Module):
    def forward(self, x):
        return shift(x, 3, 1)
'''

_PROJECTION = '''

def projection(in_planes, out_planes, stride, needed):
    """The shortcut: an empty Sequential, or 1x1 conv (stride) + BN where the shape changes."""
    if not needed:
        return nn.Sequential()
    return nn.Sequential(nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False),
                         nn.BatchNorm2d(out_planes))
'''

_SHIFT_CONV = '''

class ShiftConv(nn.Module):
    """1x1 conv -> BN -> ReLU -> shift -> 1x1 conv (stride) -> BN -> ReLU, plus the shortcut."""

    def __init__(self, in_planes, out_planes, stride=1, expansion=1, shift_class=None):
        super(ShiftConv, self).__init__()
        self.expansion = expansion
        self.in_planes = in_planes
        self.out_planes = out_planes
        self.mid_planes = mid_planes = int(out_planes * self.expansion)
        self.conv1 = nn.Conv2d(in_planes, mid_planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid_planes)
        self.shift2 = (shift_class or GenericShift_cuda)(kernel_size=3, dilate_factor=1)
        self.conv2 = nn.Conv2d(mid_planes, out_planes, kernel_size=1, bias=False, stride=stride)
        self.bn2 = nn.BatchNorm2d(out_planes)
        self.shortcut = projection(in_planes, out_planes, stride, stride != 1 or in_planes != out_planes)

    def forward(self, x):
        shortcut = self.shortcut(x)
        x = F.relu(self.bn1(self.conv1(x)))
        self.int_nchw = x.size()
        x = F.relu(self.bn2(self.conv2(self.shift2(x))))
        self.out_nchw = x.size()
        return x + shortcut
'''

_DEPTHWISE_BLOCK = '''

class DepthWiseWithSkipBlock(nn.Module):
    def __init__(self, in_planes, out_planes, stride=1, reduction=1):
        super(DepthWiseWithSkipBlock, self).__init__()
        self.expansion = 1 / float(reduction)
        self.in_planes = in_planes
        self.mid_planes = mid_planes = int(self.expansion * out_planes)
        self.out_planes = out_planes
        self.conv1 = nn.Conv2d(in_planes, mid_planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid_planes)
        self.depth = nn.Conv2d(mid_planes, mid_planes, kernel_size=3, padding=1, stride=1, bias=False,
                               groups=mid_planes)
        self.bn2 = nn.BatchNorm2d(mid_planes)
        self.conv3 = nn.Conv2d(mid_planes, out_planes, kernel_size=1, bias=False, stride=stride)
        self.bn3 = nn.BatchNorm2d(out_planes)
        self.shortcut = projection(in_planes, out_planes, stride, stride != 1 or in_planes != out_planes)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.depth(out))
        out = self.bn3(self.conv3(out))
        return F.relu(out + self.shortcut(x))
'''

_RESNET = '''"""Stand-in of the seed's models/resnet.py."""
import torch.nn as nn
import torch.nn.functional as F

from models.shiftnet_cuda_v2.nn import GenericShift_cuda
''' + _PROJECTION + '''

class BasicBlock(nn.Module):
    """Post-activation block; ``old_rule`` builds the Nov-2017 shortcut (projection iff Cin != M)."""

    def __init__(self, in_planes, planes, stride=1, reduction=1, old_rule=False):
        super(BasicBlock, self).__init__()
        self.expansion = 1 / float(reduction)
        self.in_planes = in_planes
        self.mid_planes = mid_planes = int(self.expansion * planes)
        self.out_planes = planes
        self.conv1 = nn.Conv2d(in_planes, mid_planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid_planes)
        self.conv2 = nn.Conv2d(mid_planes, planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        needed = stride != 1 or in_planes != (mid_planes if old_rule else planes)
        self.shortcut = projection(in_planes, planes, stride, needed)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        self.int_nchw = out.size()
        out = self.bn2(self.conv2(out))
        self.out_nchw = out.size()
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, block, num_blocks, reduction=1, num_classes=10):
        super(ResNet, self).__init__()
        self.reduction = float(reduction) ** 0.5
        self.num_classes = num_classes
        self.in_planes = int(16 / self.reduction)
        self.conv1 = nn.Conv2d(3, self.in_planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(self.in_planes)
        self.layer1 = self._make_layer(block, self.in_planes, num_blocks[0], 1)
        self.layer2 = self._make_layer(block, int(32 / self.reduction), num_blocks[1], 2)
        self.layer3 = self._make_layer(block, int(64 / self.reduction), num_blocks[2], 2)
        self.linear = nn.Linear(int(64 / self.reduction), num_classes)

    def _make_layer(self, block, planes, count, stride):
        layers = []
        for s in [stride] + [1] * (count - 1):
            layers.append(block(self.in_planes, int(planes), s))
            self.in_planes = int(planes)
        return nn.Sequential(*layers)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        self.int_nchw = out.size()
        out = self.layer3(self.layer2(self.layer1(out)))
        out = F.avg_pool2d(out, 8)
        out = out.view(out.size(0), -1)
        self.out_hw = out.size()
        return self.linear(out)
''' + _SHIFT_CONV + _DEPTHWISE_BLOCK

_SHIFTRESNET = '''"""Stand-in of the seed's models/shiftresnet.py (2018-03-28 on)."""
import torch.nn as nn
import torch.nn.functional as F

from models.shiftnet_cuda_v2.nn import GenericShift_cuda
''' + _PROJECTION + _SHIFT_CONV

_DEPTHWISE = '''"""Stand-in of the seed's models/depthwiseresnet.py (2018-03-28 on)."""
import torch.nn as nn
import torch.nn.functional as F
''' + _PROJECTION + _DEPTHWISE_BLOCK

PACKAGE = {
    "models/__init__.py": "", "models/resnet.py": _RESNET, "models/shiftresnet.py": _SHIFTRESNET,
    "models/depthwiseresnet.py": _DEPTHWISE, "models/shiftnet_cuda_v2/__init__.py": "",
    "models/shiftnet_cuda_v2/nn.py": _SHIFT_NN, "shiftnet_cuda_v2/__init__.py": "", "shiftnet_cuda_v2/nn.py": _SHIFT_NN,
}


def write_package(root: Path) -> Path:
    for name, text in PACKAGE.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root
