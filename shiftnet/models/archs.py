"""The architecture registry: one entry per architecture, the one place that says what it is.

An entry holds the block module that fills the three stages, the layers of one block (from which its
parameter count and MACs follow without building anything), the width knob it takes (``knobs.py``:
the inner-width rule, the ``a=3c`` / ``r=12`` label and how the knob is read back from weights), and
which reduction modes and shortcut rules it accepts. ModelSpec validation, ``CifarResNet``, names,
labels, counting and ``infer_spec`` all ask the registry, so adding an architecture is one
``register(Architecture(...))`` plus its block module. The entry's layers also recognise its
weights: the names and kernel sizes of a block's convs are its signature, unique in the registry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn

from ..enums import DEPTHWISERESNET, REDUCTION_MODES, RESNET, SHIFTRESNET, SHORTCUT_RULES
from ..errors import short_repr
from .blocks import BasicBlock, DepthwiseBlock, ShiftConv, needs_projection
from .knobs import EXPANSION, REDUCTION, Expansion, Reduction


@dataclass(frozen=True)
class Conv:
    """One bias-free conv of a block and the BN after it, named as the block module names them."""

    name: str  # "conv1"; its BN is "bn1"
    cin: int
    cout: int
    kernel: int = 1
    stride: int = 1
    groups: int = 1

    def params(self) -> int:
        return (self.cin // self.groups) * self.cout * self.kernel**2 + 2 * self.cout  # conv + BN weight and bias

    def macs(self, size_out: int) -> int:
        return size_out * size_out * self.cout * (self.cin // self.groups) * self.kernel**2


def output_size(size: int, stride: int) -> int:
    """Spatial size after a conv with "same" padding (k // 2 for odd k) and this stride."""
    return (size - 1) // stride + 1


@dataclass(frozen=True)
class Architecture:
    """One registered architecture. ``layers(cin, mid, planes, stride)`` lists the block's convs in the
    order they run; the block module must build exactly these (a test checks every entry)."""

    name: str
    block: type[nn.Module]  # block(in_planes, planes, stride, mid=, shortcut_rule=[, shift_impl=])
    layers: Callable[[int, int, int, int], tuple[Conv, ...]]
    knob: Expansion | Reduction
    reduction_modes: tuple[str, ...] = ()  # the modes a reduction may use (none for an expansion knob)
    shortcut_rules: tuple[str, ...] = ("current",)
    has_shift: bool = False  # its blocks take ``shift_impl``

    def make_block(self, in_planes: int, planes: int, stride: int, mid: int, shortcut_rule: str,
                   shift_impl: str | None) -> nn.Module:
        extra = {"shift_impl": shift_impl} if self.has_shift else {}
        return self.block(in_planes, planes, stride, mid=mid, shortcut_rule=shortcut_rule, **extra)

    def block_counts(self, in_planes: int, planes: int, stride: int, mid: int, shortcut_rule: str,
                     size: int) -> tuple[int, int]:
        """(parameters, MACs) of one block whose input is ``size`` x ``size``, from its layers alone."""
        params = macs = 0
        out = size
        for conv in self.layers(in_planes, mid, planes, stride):
            out = output_size(out, conv.stride)
            params, macs = params + conv.params(), macs + conv.macs(out)
        if needs_projection(in_planes, planes, mid, stride, shortcut_rule):
            projection = Conv("shortcut", in_planes, planes, 1, stride)
            params, macs = params + projection.params(), macs + projection.macs(output_size(size, stride))
        return params, macs

    def signature(self) -> tuple[tuple[str, int], ...]:
        """The names and kernel sizes of a block's convs: what ``infer_spec`` recognises it by."""
        return tuple(sorted((conv.name, conv.kernel) for conv in self.layers(4, 4, 4, 1)))


_REGISTRY: dict[str, Architecture] = {}


def register(arch: Architecture) -> Architecture:
    """Add an architecture; its name and its weights' signature must be new."""
    if not arch.name.isalpha() or not arch.name.islower():
        raise ValueError(f"an architecture name is lower-case letters (it is followed by the depth), "
                         f"got {arch.name!r}")
    if arch.name in _REGISTRY:
        raise ValueError(f"architecture {arch.name!r} is already registered")
    clash = [other.name for other in _REGISTRY.values() if other.signature() == arch.signature()]
    if clash:
        raise ValueError(f"{arch.name}'s blocks have the same layers as {clash[0]}'s: "
                         f"weights could not tell them apart")
    _REGISTRY[arch.name] = arch
    return arch


def unregister(name: str) -> None:
    """Remove an architecture (tests register toy ones)."""
    del _REGISTRY[name]


def arch_names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def get_arch(name) -> Architecture:
    """The entry of ``name``; one-line ValueError naming the registered ones otherwise."""
    arch = _REGISTRY.get(name) if isinstance(name, str) else None
    if arch is None:
        raise ValueError(f"unknown arch {short_repr(name)}; choose one of {', '.join(_REGISTRY)}")
    return arch


def registered() -> tuple[Architecture, ...]:
    return tuple(_REGISTRY.values())


# The built-in entries, under the names the enumerations give them (enums.py: help lists them torch-free).
register(Architecture(
    RESNET, BasicBlock,
    lambda cin, mid, planes, stride: (Conv("conv1", cin, mid, 3, stride), Conv("conv2", mid, planes, 3)),
    REDUCTION, reduction_modes=REDUCTION_MODES, shortcut_rules=SHORTCUT_RULES,
))
register(Architecture(
    SHIFTRESNET, ShiftConv,  # the shift between the two 1x1 convs has no parameters and no MACs
    lambda cin, mid, planes, stride: (Conv("conv1", cin, mid), Conv("conv2", mid, planes, 1, stride)),
    EXPANSION, has_shift=True,
))
register(Architecture(
    DEPTHWISERESNET, DepthwiseBlock,
    lambda cin, mid, planes, stride: (Conv("conv1", cin, mid), Conv("conv2", mid, mid, 3, groups=mid),
                                      Conv("conv3", mid, planes, 1, stride)),
    REDUCTION, reduction_modes=("block",), shortcut_rules=SHORTCUT_RULES,
))
