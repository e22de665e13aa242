"""Infer the ModelSpec of a state dict from its tensors alone (for checkpoints without metadata).

arch from the block's kernel shapes and keys, depth from the number of blocks per stage, expansion
or block reduction from the inner widths, net reduction from the stem width, shortcut rule from
which blocks carry a projection, classes from the head. The spec found is then built and loaded
strictly, so a state dict that matches no architecture fails with the mismatch named.
"""

from __future__ import annotations

import math
import re

import torch

from .registry import create_model
from .spec import BASE_WIDTHS, ModelSpec

_BLOCK = re.compile(r"^layer([123])\.(\d+)\.")


class SpecMismatch(ValueError):
    pass


def _need(state: dict, key: str) -> torch.Tensor:
    if key not in state:
        raise SpecMismatch(f"no {key!r} in the state dict: not a CIFAR ResNet/ShiftResNet of this family")
    return state[key]


def _shortest_decimal(lo: float, hi: float, check) -> float | None:
    """The value with the fewest decimals in [lo, hi] that passes ``check`` (the exact float rule).

    Many values give the same integer widths (r = 11 and r = 12 build the same ResNet20), so the
    shortest one is reported; the architecture, which is what matters, is identical.
    """
    for digits in range(0, 8):
        scale = 10**digits
        value = math.floor(lo * scale) / scale
        while value <= hi + 1e-12:
            if value > 0 and check(value):
                return value
            value = round(value + 1 / scale, digits)
    return None


def infer_spec(state: dict[str, torch.Tensor]) -> ModelSpec:
    linear = _need(state, "linear.weight")
    stem = _need(state, "conv1.weight")
    num_classes, w3 = linear.shape
    w1 = stem.shape[0]
    blocks = {}
    for key in state:
        match = _BLOCK.match(key)
        if match:
            blocks.setdefault(int(match.group(1)), set()).add(int(match.group(2)))
    if set(blocks) != {1, 2, 3} or len({len(v) for v in blocks.values()}) != 1:
        raise SpecMismatch("the state dict does not have three stages of equally many blocks")
    n = len(blocks[1])
    if blocks[1] != set(range(n)):
        raise SpecMismatch("block indices are not 0..n-1")
    first = _need(state, "layer1.0.conv1.weight")
    if "layer1.0.conv3.weight" in state:
        arch = "depthwiseresnet"
    elif first.shape[-1] == 1:
        arch = "shiftresnet"
    else:
        arch = "resnet"
    widths = [state[f"layer{s}.0.bn2.weight" if arch != "depthwiseresnet" else f"layer{s}.0.bn3.weight"].shape[0] for s in (1, 2, 3)]
    mids = [state[f"layer{s}.0.conv1.weight"].shape[0] for s in (1, 2, 3)]
    if w1 != widths[0] or w3 != widths[2]:
        raise SpecMismatch(f"stem width {w1} / head input {w3} do not match the stage widths {widths}")
    # a projection on a stride-1 block whose input and output widths agree exists only under the legacy rule
    legacy = any(f"layer{s}.{b}.shortcut.0.weight" in state for s in (1, 2, 3) for b in range(n) if not (s > 1 and b == 0))
    shortcut_rule = "legacy" if legacy and arch != "shiftresnet" else "current"
    expansion = reduction = None
    mode = "block"
    if arch == "shiftresnet":  # int(C * e) = M  <=>  M/C <= e < (M+1)/C
        lo, hi = max(m / c for c, m in zip(widths, mids)), min((m + 1) / c for c, m in zip(widths, mids))
        expansion = _shortest_decimal(lo, hi, lambda e: all(int(c * e) == m for c, m in zip(widths, mids)))
        if expansion is None:
            raise SpecMismatch(f"ShiftConv inner widths {mids} for block widths {widths} fit no expansion")
    elif tuple(widths) != BASE_WIDTHS:  # int(B / sqrt(r)) = W  <=>  (B/(W+1))^2 < r <= (B/W)^2
        mode = "net"
        pairs = list(zip(BASE_WIDTHS, widths))
        lo, hi = max((b / (w + 1)) ** 2 for b, w in pairs), min((b / w) ** 2 for b, w in pairs)
        reduction = _shortest_decimal(lo, hi, lambda r: all(int(b / math.sqrt(r)) == w for b, w in pairs))
        if reduction is None or mids != widths:
            raise SpecMismatch(f"stage widths {widths} (inner {mids}) fit no net-wise reduction")
    elif mids != widths:  # int((1/r) * C) = M  <=>  C/(M+1) < r <= C/M
        pairs = list(zip(widths, mids))
        lo, hi = max(c / (m + 1) for c, m in pairs), min(c / m for c, m in pairs)
        reduction = _shortest_decimal(lo, hi, lambda r: all(int((1.0 / r) * c) == m for c, m in pairs))
        if reduction is None:
            raise SpecMismatch(f"inner widths {mids} for block widths {widths} fit no block-wise reduction")
    spec = ModelSpec(arch=arch, depth=6 * n + 2, expansion=expansion, reduction=reduction, reduction_mode=mode,
                     shortcut_rule=shortcut_rule, num_classes=int(num_classes))
    try:
        return spec.validated()
    except ValueError as exc:
        raise SpecMismatch(f"inferred {spec} is invalid: {exc}") from None


def build_from_state(state: dict[str, torch.Tensor], spec: ModelSpec | None = None) -> torch.nn.Module:
    """Build ``spec`` (or the inferred one) and load ``state`` strictly; SpecMismatch on any difference."""
    spec = spec or infer_spec(state)
    model = create_model(spec)
    expected = model.state_dict()
    state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked") or k in expected}
    missing = sorted(set(expected) - set(state) - {k for k in expected if k.endswith("num_batches_tracked")})
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        detail = []
        if missing:
            detail.append(f"missing {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}")
        if unexpected:
            detail.append(f"unexpected {', '.join(unexpected[:3])}{' ...' if len(unexpected) > 3 else ''}")
        raise SpecMismatch(f"weights do not match {spec.name}: {'; '.join(detail)}")
    for key, value in state.items():
        if expected[key].shape != value.shape:
            raise SpecMismatch(f"weights do not match {spec.name}: {key} has shape {tuple(value.shape)}, "
                               f"the model needs {tuple(expected[key].shape)}")
    model.load_state_dict(state, strict=False)  # num_batches_tracked is absent from PyTorch-0.3 files
    return model
