"""ModelSpec: the seven numbers that fully determine a CIFAR ResNet / ShiftResNet of this project.

A spec is what a checkpoint's metadata stores, what ``params --json`` prints and what
``create_model`` builds, so it validates itself once (``validated()``) and everything downstream
can trust it. Defaults follow the seed: block reduction (the README tables) and the current
(2018-01+) shortcut rule; ``shortcut_rule="legacy"`` reproduces the Nov-2017 tables (spec §3.3).
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass

ARCHS = ("resnet", "shiftresnet", "depthwiseresnet")
REDUCTION_MODES = ("block", "net")
SHORTCUT_RULES = ("current", "legacy")
BASE_WIDTHS = (16, 32, 64)
_NAME = re.compile(r"^(resnet|shiftresnet|depthwiseresnet)(\d+)$")


@dataclass(frozen=True)
class ModelSpec:
    """What to build. ``expansion`` is None for the ResNets; ``reduction`` None means 1 (unused)."""

    arch: str = "resnet"
    depth: int = 20
    expansion: float | None = None
    reduction: float | None = None
    reduction_mode: str = "block"
    shortcut_rule: str = "current"
    num_classes: int = 10

    @property
    def blocks_per_stage(self) -> int:
        return (self.depth - 2) // 6

    @property
    def name(self) -> str:
        """Registry name plus the knobs that differ from the plain model, e.g. ``shiftresnet20_e3``."""
        base = f"{self.arch}{self.depth}"
        if self.expansion is not None and self.arch == "shiftresnet":
            base += f"_e{_fmt(self.expansion)}"
        if self.reduction not in (None, 1, 1.0):
            base += f"_r{_fmt(self.reduction)}_{self.reduction_mode}"
            if self.shortcut_rule == "legacy":
                base += "_legacy"
        if self.num_classes != 10:
            base += f"_c{self.num_classes}"
        return base

    @property
    def stage_widths(self) -> tuple[int, int, int]:
        """Output widths W1, W2, W3: int(16/s) etc. with s = sqrt(r) in net mode (spec §3.2)."""
        if self.reduction_mode == "net" and self.reduction is not None:
            scale = math.sqrt(self.reduction)
            return tuple(int(w / scale) for w in BASE_WIDTHS)  # type: ignore[return-value]
        return BASE_WIDTHS

    def mid_width(self, out_width: int) -> int:
        """M of a block whose output width is C: int(e·C) for shift, int((1/r)·C) in block mode."""
        if self.arch == "shiftresnet":
            return int(out_width * (self.expansion if self.expansion is not None else 1.0))
        if self.reduction is not None and self.reduction_mode == "block":
            return int((1.0 / self.reduction) * out_width)
        return out_width

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelSpec":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown model field(s) {', '.join(unknown)}; valid: {', '.join(sorted(known))}")
        return cls(**data).validated()

    def validated(self) -> "ModelSpec":
        """Normalise (shift expansion defaults to 1, reduction 1 -> None) and check every field."""
        if self.arch not in ARCHS:
            raise ValueError(f"unknown arch {self.arch!r}; choose one of {', '.join(ARCHS)}")
        if isinstance(self.depth, bool) or not isinstance(self.depth, int) or self.depth < 8 or (self.depth - 2) % 6:
            raise ValueError(f"depth must be 6n+2 with n >= 1 (8, 14, 20, 26, ..., 56, 110), got {self.depth!r}")
        if self.reduction_mode not in REDUCTION_MODES:
            raise ValueError(f"reduction_mode must be one of {', '.join(REDUCTION_MODES)}, got {self.reduction_mode!r}")
        if self.shortcut_rule not in SHORTCUT_RULES:
            raise ValueError(f"shortcut_rule must be one of {', '.join(SHORTCUT_RULES)}, got {self.shortcut_rule!r}")
        if isinstance(self.num_classes, bool) or not isinstance(self.num_classes, int) or self.num_classes < 1:
            raise ValueError(f"num_classes must be a positive integer, got {self.num_classes!r}")
        spec = self
        expansion, reduction = self.expansion, self.reduction
        if reduction is not None:
            if not _positive_number(reduction):
                raise ValueError(f"reduction must be a positive number, got {reduction!r}")
            if float(reduction) == 1.0:
                reduction = None
        if self.arch == "shiftresnet":
            expansion = 1.0 if expansion is None else expansion
            if not _positive_number(expansion):
                raise ValueError(f"expansion must be a positive number, got {expansion!r}")
            if reduction is not None:
                raise ValueError("shiftresnet takes --expansion, not --reduction (the original asserts reduction == 1)")
            if self.shortcut_rule != "current":
                raise ValueError("shortcut_rule 'legacy' only exists for the block-reduced ResNets; use 'current'")
            expansion = float(expansion)
        elif expansion is not None:
            raise ValueError(f"--expansion applies to shiftresnet only; {self.arch} takes --reduction")
        if self.arch == "depthwiseresnet" and self.reduction_mode != "block":
            raise ValueError("depthwiseresnet supports reduction_mode 'block' only")
        spec = dataclasses.replace(spec, expansion=expansion, reduction=None if reduction is None else float(reduction))
        widths = spec.stage_widths
        mids = [spec.mid_width(w) for w in widths]
        if min(widths) < 1 or min(mids) < 1:
            raise ValueError(
                f"{spec.arch}{spec.depth} with expansion={spec.expansion} reduction={spec.reduction} "
                f"({spec.reduction_mode}) gives widths {list(widths)} and mid widths {mids}; every width must be >= 1 "
                f"(use a smaller reduction or a larger expansion)"
            )
        return spec


def parse_name(name: str) -> tuple[str, int]:
    """``"shiftresnet56"`` -> ("shiftresnet", 56); ValueError naming the pattern otherwise."""
    match = _NAME.match(name.strip().lower())
    if not match:
        raise ValueError(f"unknown model {name!r}; names look like resnet20, shiftresnet56, depthwiseresnet110 (arch + depth 6n+2)")
    return match.group(1), int(match.group(2))


def _positive_number(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def _fmt(value: float) -> str:
    return f"{value:g}"
