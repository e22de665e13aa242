"""Infer the ModelSpec of a state dict from its tensors alone (for checkpoints without metadata).

The arch is the registry entry whose block layers (conv names and kernel sizes, ``archs.py``) match
the first block's; the depth follows from the number of blocks per stage, the knob (expansion, block
or net reduction) from the inner and stage widths (``knobs.py``), the shortcut rule from which
blocks carry a projection, the classes from the head. The spec found is then built and loaded
strictly, so a state dict that matches no architecture fails with the mismatch named.
"""

from __future__ import annotations

import re

import torch

from .archs import Architecture, registered
from .knobs import SpecMismatch
from .registry import create_model
from .spec import ModelSpec

__all__ = ["SpecMismatch", "build_from_state", "infer_spec"]
_BLOCK = re.compile(r"^layer([123])\.(\d+)\.")
_CONV = re.compile(r"^layer1\.0\.([a-z]+\d*)\.weight$")


def _need(state: dict, key: str) -> torch.Tensor:
    if key not in state:
        raise SpecMismatch(f"no {key!r} in the state dict: not a CIFAR ResNet/ShiftResNet of this family")
    return state[key]


def _recognise(state: dict) -> Architecture:
    """The registered architecture whose first block has exactly these convs (name, kernel size)."""
    found = tuple(sorted((m[1], state[key].shape[-1]) for key in state
                         if (m := _CONV.match(key)) and state[key].dim() == 4))
    for arch in registered():
        if arch.signature() == found:
            return arch
    raise SpecMismatch(f"the first block's convs {[f'{name} {k}x{k}' for name, k in found]} match no architecture "
                       f"({', '.join(a.name for a in registered())})")


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
    arch = _recognise(state)
    layers = arch.layers(4, 4, 4, 1)
    first, last = layers[0].name, layers[-1].name  # the first conv makes the inner width, the last the output
    widths = [_need(state, f"layer{s}.0.{last}.weight").shape[0] for s in (1, 2, 3)]
    mids = [_need(state, f"layer{s}.0.{first}.weight").shape[0] for s in (1, 2, 3)]
    if w1 != widths[0] or w3 != widths[2]:
        raise SpecMismatch(f"stem width {w1} / head input {w3} do not match the stage widths {widths}")
    # a projection on a stride-1 block whose input and output widths agree exists only under the legacy rule
    legacy = any(f"layer{s}.{b}.shortcut.0.weight" in state for s in (1, 2, 3) for b in range(n)
                 if not (s > 1 and b == 0))
    fields = arch.knob.infer(arch, widths, mids)
    spec = ModelSpec(arch=arch.name, depth=6 * n + 2, **fields, num_classes=int(num_classes),
                     shortcut_rule="legacy" if legacy and "legacy" in arch.shortcut_rules else "current")
    try:
        return spec.validated()
    except ValueError as exc:
        raise SpecMismatch(f"inferred {spec} is invalid: {exc}") from None


def build_from_state(state: dict[str, torch.Tensor], spec: ModelSpec | None = None,
                     shift_impl: str | None = None) -> torch.nn.Module:
    """Build ``spec`` (or the inferred one) and load ``state`` strictly; SpecMismatch on any difference."""
    spec = spec or infer_spec(state)
    model = create_model(spec, shift_impl=shift_impl)
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
