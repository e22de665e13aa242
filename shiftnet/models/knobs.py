"""The two width knobs of this family: a ShiftResNet's expansion and a ResNet's reduction.

A knob is the one ModelSpec field that sets a block's inner width M from its output width C
(docs/original.md#blocks, docs/original.md#reductions). Each knob owns, in one place, its width
rule, how tables label it (``a=3c``, ``r=12``) and how it is read back from the widths found in a
state dict. An architecture of the registry (``archs.py``) names the knob it takes; a new
architecture reuses one of these two, and only a new kind of width rule needs a new knob.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ..enums import DEFAULT_EXPANSION

if TYPE_CHECKING:
    from .spec import ModelSpec

BASE_WIDTHS = (16, 32, 64)


class SpecMismatch(ValueError):
    """A state dict that fits no spec of the registry (or not the spec it is loaded into)."""


def shortest_decimal(lo: float, hi: float, check) -> float | None:
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


class Expansion:
    """M = int(e · C), e = 1 unless given (docs/original.md#blocks); labelled ``a=3c`` as in the paper."""

    field = "expansion"
    default = DEFAULT_EXPANSION

    def mid_width(self, spec: ModelSpec, planes: int) -> int:
        return int(planes * (self.default if spec.expansion is None else spec.expansion))

    def label(self, spec: ModelSpec) -> str:
        e = self.default if spec.expansion is None else spec.expansion
        return "a=c" if e == 1 else f"a={e:g}c"

    def infer(self, arch, widths: list[int], mids: list[int]) -> dict:
        """int(C · e) = M  <=>  M/C <= e < (M+1)/C for every stage."""
        if tuple(widths) != BASE_WIDTHS:
            raise SpecMismatch(f"stage widths {widths} are not {list(BASE_WIDTHS)}: {arch.name} has no net reduction")
        pairs = list(zip(widths, mids))
        lo, hi = max(m / c for c, m in pairs), min((m + 1) / c for c, m in pairs)
        value = shortest_decimal(lo, hi, lambda e: all(int(c * e) == m for c, m in pairs))
        if value is None:
            raise SpecMismatch(f"{arch.name} inner widths {mids} for block widths {widths} fit no expansion")
        return {"expansion": value}


class Reduction:
    """r shrinks the inner width (block mode, M = int((1/r) · C)) or every width by 1/√r (net mode)
    (docs/original.md#reductions); unreduced nets are labelled ``original``."""

    field = "reduction"
    default = None

    def mid_width(self, spec: ModelSpec, planes: int) -> int:
        if spec.reduction is not None and spec.reduction_mode == "block":
            return int((1.0 / spec.reduction) * planes)
        return planes

    def label(self, spec: ModelSpec) -> str:
        if spec.reduction is None:
            return "original"
        notes = [note for note, on in (("net", spec.reduction_mode == "net"),
                                       ("legacy", spec.shortcut_rule == "legacy")) if on]
        return f"r={spec.reduction:g}" + (f" ({', '.join(notes)})" if notes else "")

    def infer(self, arch, widths: list[int], mids: list[int]) -> dict:
        if tuple(widths) != BASE_WIDTHS:  # int(B / sqrt(r)) = W  <=>  (B/(W+1))^2 < r <= (B/W)^2
            pairs = list(zip(BASE_WIDTHS, widths))
            lo, hi = max((b / (w + 1)) ** 2 for b, w in pairs), min((b / w) ** 2 for b, w in pairs)
            value = shortest_decimal(lo, hi, lambda r: all(int(b / math.sqrt(r)) == w for b, w in pairs))
            if value is None or mids != widths or "net" not in arch.reduction_modes:
                raise SpecMismatch(f"stage widths {widths} (inner {mids}) fit no net-wise reduction of {arch.name}")
            return {"reduction": value, "reduction_mode": "net"}
        if mids == widths:
            return {}
        pairs = list(zip(widths, mids))  # int((1/r) * C) = M  <=>  C/(M+1) < r <= C/M
        lo, hi = max(c / (m + 1) for c, m in pairs), min(c / m for c, m in pairs)
        value = shortest_decimal(lo, hi, lambda r: all(int((1.0 / r) * c) == m for c, m in pairs))
        if value is None:
            raise SpecMismatch(f"{arch.name} inner widths {mids} for block widths {widths} fit no block-wise reduction")
        return {"reduction": value, "reduction_mode": "block"}


EXPANSION = Expansion()
REDUCTION = Reduction()
