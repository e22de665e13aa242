"""The original's published numbers: both versions of the seed README's tables, as data.

Two versions of the seed README's CIFAR-10 table exist (docs/original.md#counting): the Nov-2017 one
(with an ``r`` column, reduced ResNets under the legacy shortcut rule) that the seed README shows, and
the Jan-2018 reruns at HEAD. Both are kept here, once; the params table, the presets, the plots and
the reproduction table read them, never retype them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .models import ModelSpec, architecture_key

# The README's "a" column and the expansion it stands for.
EXPANSIONS = {"c": 1, "3c": 3, "6c": 6, "9c": 9}
DEPTHS = (20, 56, 110)


@dataclass(frozen=True)
class SeedRow:
    """One ``a`` row of a seed README table for one depth (reductions kept as printed)."""

    depth: int
    a: str  # "c", "3c", "6c", "9c"
    shift_acc: float | None
    resnet_acc: float | None  # the reduced ResNet's accuracy ("Acc (res)")
    params_m: str  # README "Params" (millions) of the ShiftResNet
    shift_reduction: str  # README reduction of the ShiftResNet
    resnet_reduction: str  # the parenthesised value where given, else the same as shift_reduction
    r: float | None  # block reduction passed to main.py for the ResNet of this row

    @property
    def expansion(self) -> int:
        return EXPANSIONS[self.a]


# README@ba67370 (2017-11-22): the table of the seed README. Reduced ResNets: block mode, legacy rule.
SEED_C10_NOV2017 = [
    SeedRow(20, "c", 86.66, 85.84, "0.03", "7.8", "7.6", 12),
    SeedRow(20, "3c", 90.08, 88.33, "0.10", "2.9", "2.9", 3.3),
    SeedRow(20, "6c", 90.59, 90.09, "0.19", "1.5", "1.5", 1.6),
    SeedRow(20, "9c", 91.69, 91.35, "0.28", ".98", "1", 1),
    SeedRow(56, "c", 89.71, 87.46, "0.10", "8.4", "8.2", 16),
    SeedRow(56, "3c", 92.11, 89.40, "0.29", "2.9", "2.9", 3.3),
    SeedRow(56, "6c", 92.69, 89.89, "0.58", "1.5", "1.5", 1.6),
    SeedRow(56, "9c", 92.74, 92.01, "0.87", "0.98", "0.95", 0.98),
    SeedRow(110, "c", 90.34, 76.82, "0.20", "8.5", "8.2", 15),
    SeedRow(110, "3c", 91.98, 74.30, "0.59", "2.9", "2.9", 3.3),
    SeedRow(110, "6c", 93.17, 79.02, "1.18", "1.5", "1.5", 1.6),
    SeedRow(110, "9c", 92.79, 92.46, "1.76", "0.98", "0.95", 0.98),
]

# The unmodified ResNets (same in both README versions): README params (M), CIFAR-10, CIFAR-100 acc.
SEED_ORIGINAL = {20: ("0.27", 91.35, 66.25), 56: ("0.86", 92.01, 69.27), 110: ("1.73", 92.46, 72.11)}

# README@HEAD (2018-01-20 "new numbers"): shift and reduced-ResNet accuracy per (depth, a). The
# ResNets' r is not recorded in the code; the README's parenthesised figures, read as block r under
# the current rule, reproduce the listed reductions (docs/original.md#counting) except R110-9c, which no r reaches.
SEED_C10_JAN2018 = {
    (20, "c"): (85.78, 84.77, 7.2), (20, "3c"): (89.56, 88.81, 2.8), (20, "6c"): (91.07, 91.30, 1.5),
    (20, "9c"): (91.79, 91.96, 0.98), (56, "c"): (89.69, 88.32, 7.6), (56, "3c"): (92.48, 91.20, 2.9),
    (56, "6c"): (93.49, 93.01, 1.5), (56, "9c"): (93.17, 93.74, None), (110, "c"): (90.67, 89.79, 7.8),
    (110, "3c"): (92.42, 93.18, 2.9), (110, "6c"): (93.03, 93.40, 1.5), (110, "9c"): (93.36, 94.09, None),
}

# CIFAR-100, README@HEAD: ShiftResNet accuracy per (depth, a).
SEED_C100_SHIFT = {
    (20, "c"): 55.05, (20, "3c"): 65.83, (20, "6c"): 69.73, (20, "9c"): 70.77,
    (56, "c"): 63.20, (56, "3c"): 69.77, (56, "6c"): 72.33, (56, "9c"): 73.43,
    (110, "c"): 68.01, (110, "3c"): 72.10, (110, "6c"): 73.17, (110, "9c"): 73.71,
}


def shift_spec(row: SeedRow, num_classes: int = 10) -> ModelSpec:
    """The ShiftResNet of a table row."""
    return ModelSpec("shiftresnet", row.depth, expansion=float(row.expansion), num_classes=num_classes).validated()


def legacy_resnet_spec(row: SeedRow, num_classes: int = 10) -> ModelSpec:
    """The Nov-2017 reduced ResNet of a table row: block reduction r under the legacy shortcut rule."""
    return ModelSpec("resnet", row.depth, reduction=row.r, reduction_mode="block", shortcut_rule="legacy",
                     num_classes=num_classes).validated()


def original_spec(depth: int, num_classes: int = 10) -> ModelSpec:
    return ModelSpec("resnet", depth, num_classes=num_classes).validated()


def matches_readme(value: float, printed: str) -> bool:
    """Whether ``value`` prints as the README's figure at its precision.

    count.py printed reductions with two decimals and the README sometimes rounded that printout
    again (2.849 -> "2.85" -> "2.9"), so a figure also matches after that double rounding.
    """
    decimals = len(printed.split(".")[1]) if "." in printed else 0
    target = float(printed)
    return round(value, decimals) == target or round(round(value, 2), decimals) == target


@dataclass(frozen=True)
class SeedTableEntry:
    """A model of the seed's CIFAR-10 table and the README's printed params/reduction for it."""

    spec: ModelSpec
    readme_params_m: str | None
    readme_reduction: str


def seed_table_entries(num_classes: int = 10) -> list[SeedTableEntry]:
    """Every model of the seed README's CIFAR-10 table (Nov 2017), per depth: the ShiftResNets, the
    reduced ResNets and the original."""
    entries = []
    for depth in DEPTHS:
        rows = [row for row in SEED_C10_NOV2017 if row.depth == depth]
        entries += [SeedTableEntry(shift_spec(row, num_classes), row.params_m, row.shift_reduction) for row in rows]
        entries += [SeedTableEntry(legacy_resnet_spec(row, num_classes), None, row.resnet_reduction) for row in rows]
        entries.append(SeedTableEntry(original_spec(depth, num_classes), SEED_ORIGINAL[depth][0], "1.0"))
    return entries


def seed_accuracies(spec: ModelSpec, dataset: str) -> list[tuple[str, float]]:
    """The seed README accuracies published for this architecture on ``dataset``, newest first."""
    key = architecture_key(dataclasses.replace(spec, num_classes=10))
    refs: list[tuple[str, float]] = []
    for row in SEED_C10_NOV2017:
        jan_shift, jan_resnet, jan_r = SEED_C10_JAN2018[(row.depth, row.a)]
        current = architecture_key(ModelSpec("resnet", row.depth, reduction=jan_r)) if jan_r is not None else None
        shift = architecture_key(shift_spec(row))
        if dataset == "cifar10":
            if key == shift:
                refs += [("README 2018-01", jan_shift), ("README 2017-11", row.shift_acc)]
            if key == current:
                refs.append(("README 2018-01", jan_resnet))
            if key == architecture_key(legacy_resnet_spec(row)) and row.r != 1:
                refs.append(("README 2017-11", row.resnet_acc))
        elif key == shift:
            refs.append(("README 2018-01", SEED_C100_SHIFT[(row.depth, row.a)]))
    for depth, (_, c10, c100) in SEED_ORIGINAL.items():
        if key == architecture_key(original_spec(depth)):
            refs.append(("README (original)", c10 if dataset == "cifar10" else c100))
    return refs
