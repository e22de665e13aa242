"""ModelSpec: the seven numbers that fully determine a CIFAR ResNet / ShiftResNet of this project.

A spec is what a checkpoint's metadata stores, what ``params --json`` prints and what
``create_model`` builds, so it validates itself once (``validated()``) and everything downstream
can trust it. Defaults follow the seed: block reduction (the README tables) and the current
(2018-01+) shortcut rule; ``shortcut_rule="legacy"`` reproduces the Nov-2017 tables (docs/original.md#shortcuts).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from ..errors import short_repr

ARCHS = ("resnet", "shiftresnet", "depthwiseresnet")
REDUCTION_MODES = ("block", "net")
SHORTCUT_RULES = ("current", "legacy")
BASE_WIDTHS = (16, 32, 64)
# Far above every model of the paper (ShiftResNet110 at a = 9c has about 3 M parameters), far below
# what exhausts a machine: a spec beyond it is refused before any tensor is allocated.
MAX_PARAMS = 100_000_000
# Depths of the ImageNet ResNets that are also 6n+2: a CIFAR net of that depth would print the name of
# a famous model it is not (``create_model("resnet50")`` must not quietly build one).
IMAGENET_DEPTHS = (50, 152, 200)


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
        """Arch and depth plus the knobs that differ from the plain model, e.g. ``shiftresnet20_e3``;
        ``models.names.parse_model_name`` reads every such name back into the same spec."""
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
        """Output widths W1, W2, W3: int(16/s) etc. with s = sqrt(r) in net mode (docs/original.md#reductions)."""
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

    def parameter_count(self) -> int:
        """Parameters of the model this (validated) spec builds, from the layer shapes alone, so that
        the size limit is checked without building anything; a test holds it to the built models."""
        w1, w2, w3 = self.stage_widths
        total = 27 * w1 + 2 * w1 + w3 * self.num_classes + self.num_classes  # stem conv + BN, linear head
        in_planes = w1
        for planes, stride in ((w1, 1), (w2, 2), (w3, 2)):
            total += self._block_parameters(in_planes, planes, stride)
            total += (self.blocks_per_stage - 1) * self._block_parameters(planes, planes, 1)
            in_planes = planes
        return total

    def _block_parameters(self, cin: int, c: int, stride: int) -> int:
        m = self.mid_width(c)
        if self.arch == "shiftresnet":  # 1x1, BN, shift (none), 1x1, BN; shortcut always "current"
            body, rule = cin * m + 2 * m + m * c + 2 * c, "current"
        elif self.arch == "depthwiseresnet":  # 1x1, BN, depthwise 3x3, BN, 1x1, BN
            body, rule = cin * m + 2 * m + 9 * m + 2 * m + m * c + 2 * c, self.shortcut_rule
        else:  # 3x3, BN, 3x3, BN
            body, rule = 9 * cin * m + 2 * m + 9 * m * c + 2 * c, self.shortcut_rule
        projection = stride != 1 or cin != (m if rule == "legacy" else c)
        return body + (cin * c + 2 * c if projection else 0)

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
            raise ValueError(f"unknown arch {short_repr(self.arch)}; choose one of {', '.join(ARCHS)}")
        if isinstance(self.depth, bool) or not isinstance(self.depth, int) or self.depth < 8 or (self.depth - 2) % 6:
            raise ValueError(f"depth must be 6n+2 with n >= 1 (8, 14, 20, 26, ..., 56, 110), "
                             f"got {short_repr(self.depth)}")
        if self.depth in IMAGENET_DEPTHS:
            raise ValueError(f"{self.arch}{self.depth} is an ImageNet model, which this project does not build: only "
                             f"CIFAR depths 6n+2 exist here (20, 56, 110, ...), leaving out 50, 152 and 200, "
                             f"the depths of ImageNet ResNets")
        if self.reduction_mode not in REDUCTION_MODES:
            raise ValueError(f"reduction_mode must be one of {', '.join(REDUCTION_MODES)}, "
                             f"got {short_repr(self.reduction_mode)}")
        if self.shortcut_rule not in SHORTCUT_RULES:
            raise ValueError(f"shortcut_rule must be one of {', '.join(SHORTCUT_RULES)}, "
                             f"got {short_repr(self.shortcut_rule)}")
        if isinstance(self.num_classes, bool) or not isinstance(self.num_classes, int) or self.num_classes < 1:
            raise ValueError(f"num_classes must be a positive integer, got {short_repr(self.num_classes)}")
        spec = self
        expansion, reduction = self.expansion, self.reduction
        if reduction is not None:
            if not _positive_number(reduction):
                raise ValueError(f"reduction must be a positive number, got {short_repr(reduction)}")
            if float(reduction) == 1.0:
                reduction = None
        if self.arch == "shiftresnet":
            expansion = 1.0 if expansion is None else expansion
            if not _positive_number(expansion):
                raise ValueError(f"expansion must be a positive number, got {short_repr(expansion)}")
            if reduction is not None:
                raise ValueError("shiftresnet takes --expansion, not --reduction (the original asserts reduction == 1)")
            if self.shortcut_rule != "current":
                raise ValueError("shortcut_rule 'legacy' only exists for the block-reduced ResNets; use 'current'")
            expansion = float(expansion)
        elif expansion is not None:
            raise ValueError(f"--expansion applies to shiftresnet only; {self.arch} takes --reduction")
        if self.arch == "depthwiseresnet" and self.reduction_mode != "block":
            raise ValueError("depthwiseresnet supports reduction_mode 'block' only")
        if reduction is None:  # no reduction: the inner width is the output width, so neither knob changes the net
            spec = dataclasses.replace(spec, reduction_mode="block", shortcut_rule="current")
        spec = dataclasses.replace(spec, expansion=expansion, reduction=None if reduction is None else float(reduction))
        widths = spec.stage_widths
        mids = [spec.mid_width(w) for w in widths]
        if min(widths) < 1 or min(mids) < 1:
            raise ValueError(
                f"{spec.arch}{spec.depth} with expansion={spec.expansion} reduction={spec.reduction} "
                f"({spec.reduction_mode}) gives widths {list(widths)} and mid widths {mids}; every width must be >= 1 "
                f"(use a smaller reduction or a larger expansion)"
            )
        params = spec.parameter_count()
        if params > MAX_PARAMS:
            raise ValueError(
                f"{spec.arch}{short_repr(spec.depth)} with expansion={short_repr(spec.expansion)} "
                f"reduction={short_repr(spec.reduction)} and {short_repr(spec.num_classes)} classes would have "
                f"{_count(params)} parameters, more than the {MAX_PARAMS // 10**6} M this tool builds "
                f"(the paper's largest has about 3 M): choose a smaller depth, expansion or class count"
            )
        return spec


def _positive_number(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def _count(n: int) -> str:
    """A parameter count for a message: 2.35e+11, or a power of ten when too large for a float."""
    return f"{n:.3g}" if n.bit_length() < 1000 else f"about 10^{int(n.bit_length() * 0.30103)}"


def _fmt(value: float) -> str:
    """3 -> "3", 0.98 -> "0.98"; a value that ``g`` would round is printed in full, so that the name
    reads back into the same spec."""
    short = f"{value:g}"
    return short if float(short) == value else repr(float(value))
