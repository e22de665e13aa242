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

from ..enums import DEFAULT_ARCH, DEFAULT_DEPTH, REDUCTION_MODES, SHORTCUT_RULES
from ..errors import short_repr
from .archs import get_arch, registered
from .knobs import BASE_WIDTHS, EXPANSION

IMAGE_SIZE = 32
# Far above every model of the paper (ShiftResNet110 at a = 9c has about 3 M parameters), far below
# what exhausts a machine: a spec beyond it is refused before any tensor is allocated.
MAX_PARAMS = 100_000_000
# Depths of the ImageNet ResNets that are also 6n+2: a CIFAR net of that depth would print the name of
# a famous model it is not (``create_model("resnet50")`` must not quietly build one).
IMAGENET_DEPTHS = (50, 152, 200)


def check_known_keys(given, valid, what: str, *, prefix: str = "", valid_label: str = "valid",
                     error: type[Exception] = ValueError) -> None:
    """The one check for keys that a mapping may hold (config sections, spec fields, model options):
    ``error("unknown <what> <keys>; <valid_label>: <valid>")``. Keys may be anything YAML or JSON
    allows, of any length, so each is shown shortened."""
    valid = list(valid)
    unknown = [key for key in given if key not in valid]
    if unknown:
        shown = ", ".join(sorted(prefix + (key if isinstance(key, str) and len(key) <= 40 else
                                           key[:37] + "..." if isinstance(key, str) else short_repr(key, 40))
                                 for key in unknown))
        raise error(f"unknown {what} {shown}; {valid_label}: {', '.join(valid)}")


@dataclass(frozen=True)
class ModelSpec:
    """What to build. ``expansion`` is None for the ResNets; ``reduction`` None means 1 (unused).
    Which fields an arch takes, and its inner-width rule, are its registry entry's (``archs.py``)."""

    arch: str = DEFAULT_ARCH
    depth: int = DEFAULT_DEPTH
    expansion: float | None = None
    reduction: float | None = None
    reduction_mode: str = REDUCTION_MODES[0]
    shortcut_rule: str = SHORTCUT_RULES[0]
    num_classes: int = 10

    @property
    def blocks_per_stage(self) -> int:
        return (self.depth - 2) // 6

    @property
    def name(self) -> str:
        """Arch and depth plus the knobs that differ from the plain model, e.g. ``shiftresnet20_e3``;
        ``models.names.parse_model_name`` reads every such name back into the same spec."""
        base = f"{self.arch}{self.depth}"
        if self.expansion is not None:
            base += f"_e{_fmt(self.expansion)}"
        if self.reduction not in (None, 1, 1.0):
            base += f"_r{_fmt(self.reduction)}_{self.reduction_mode}"
            if self.shortcut_rule == "legacy":
                base += "_legacy"
        if self.num_classes != 10:
            base += f"_c{self.num_classes}"
        return base

    @property
    def knob(self) -> str:
        """The width knob as tables label it: ``a=3c``, ``a=c``, ``r=12 (legacy)``, ``r=2.9 (net)``, ``original``."""
        return get_arch(self.arch).knob.label(self)

    @property
    def stage_widths(self) -> tuple[int, int, int]:
        """Output widths W1, W2, W3: int(16/s) etc. with s = sqrt(r) in net mode (docs/original.md#reductions)."""
        if self.reduction_mode == "net" and self.reduction is not None:
            scale = math.sqrt(self.reduction)
            return tuple(int(w / scale) for w in BASE_WIDTHS)  # type: ignore[return-value]
        return BASE_WIDTHS

    def mid_width(self, out_width: int) -> int:
        """M of a block whose output width is C, by the arch's knob (``knobs.py``)."""
        return get_arch(self.arch).knob.mid_width(self, out_width)

    def counts(self, image_size: int = IMAGE_SIZE) -> tuple[int, int]:
        """(parameters, MACs for one image) of the model this spec builds, from the layer shapes alone
        (docs/original.md#counting), so that nothing is built to count; tests hold both to the built
        models and to the hook-based ``count_macs``."""
        arch = get_arch(self.arch)
        w1, w2, w3 = self.stage_widths
        params = 27 * w1 + 2 * w1 + w3 * self.num_classes + self.num_classes  # stem conv + BN, linear head
        macs = image_size * image_size * w1 * 27 + w3 * self.num_classes
        in_planes, size = w1, image_size
        for planes, stride in ((w1, 1), (w2, 2), (w3, 2)):  # a stage: its first block, then n - 1 equal ones
            mid = self.mid_width(planes)
            first = arch.block_counts(in_planes, planes, stride, mid, self.shortcut_rule, size)
            size = (size - 1) // stride + 1
            rest = arch.block_counts(planes, planes, 1, mid, self.shortcut_rule, size)
            params += first[0] + (self.blocks_per_stage - 1) * rest[0]
            macs += first[1] + (self.blocks_per_stage - 1) * rest[1]
            in_planes = planes
        return params, macs

    def parameter_count(self) -> int:
        return self.counts()[0]

    def mac_count(self, image_size: int = IMAGE_SIZE) -> int:
        return self.counts(image_size)[1]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelSpec":
        check_known_keys(data, sorted(f.name for f in dataclasses.fields(cls)), "model field(s)")
        return cls(**data).validated()

    def validated(self) -> "ModelSpec":
        """Normalise (expansion defaults to 1, reduction 1 -> None, knobs that change nothing to their
        defaults, so that one net has one name) and check every field against the arch's entry."""
        arch = get_arch(self.arch)
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
        if self.shortcut_rule not in arch.shortcut_rules:
            others = ", ".join(a.name for a in registered() if self.shortcut_rule in a.shortcut_rules)
            raise ValueError(f"shortcut_rule {self.shortcut_rule!r} does not exist for {arch.name} (only for the "
                             f"block-reduced {others}); use {' or '.join(map(repr, arch.shortcut_rules))}")
        expansion, reduction = self.expansion, self.reduction
        if reduction is not None:
            if not _positive_number(reduction):
                raise ValueError(f"reduction must be a positive number, got {short_repr(reduction)}")
            reduction = None if float(reduction) == 1.0 else float(reduction)
        if arch.knob is EXPANSION:
            expansion = EXPANSION.default if expansion is None else expansion
            if not _positive_number(expansion):
                raise ValueError(f"expansion must be a positive number, got {short_repr(expansion)}")
            if reduction is not None:
                raise ValueError(f"{arch.name} takes --expansion, not --reduction")
            expansion = float(expansion)
        elif expansion is not None:
            takers = ", ".join(a.name for a in registered() if a.knob is EXPANSION)
            raise ValueError(f"--expansion applies to {takers} only; {arch.name} takes --{arch.knob.field}")
        spec = dataclasses.replace(self, expansion=expansion, reduction=reduction)
        if reduction is None:  # no reduction: the inner width is the output width, so neither knob changes the net
            spec = dataclasses.replace(spec, reduction_mode="block", shortcut_rule="current")
        elif spec.reduction_mode not in arch.reduction_modes:
            raise ValueError(f"{arch.name} supports reduction_mode {' or '.join(map(repr, arch.reduction_modes))} only")
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


def architecture_key(spec: ModelSpec) -> tuple:
    """What determines the network's body (the head's class count left out): equal keys build identical
    modules, e.g. r = 11 and r = 12 on ResNet20, or the legacy rule where no inner width shrinks."""
    spec = spec.validated()
    widths = spec.stage_widths
    mids = tuple(spec.mid_width(w) for w in widths)
    legacy = spec.shortcut_rule == "legacy" and mids != widths
    return spec.arch, spec.depth, widths, mids, legacy
