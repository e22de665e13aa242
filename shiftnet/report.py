"""The seed's published numbers, and the Rich tables that set ours beside them.

Two versions of the seed README's CIFAR-10 table exist (docs/original.md#counting): the Nov-2017 one (with
an ``r`` column, reduced ResNets under the legacy shortcut rule) that the seed README shows, and the
Jan-2018 reruns at HEAD. Both are kept as data here; commands compare against them, never retype.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich import box
from rich.table import Table

from .models import ModelSpec

EXPANSIONS = {"c": 1, "3c": 3, "6c": 6, "9c": 9}


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

    label: str  # "SRN20" (ShiftResNet20), "RN20-red" (block-reduced ResNet20), "RN20"
    knob: str  # "a=3c", "r=3.3", "original"
    spec: ModelSpec
    readme_params_m: str | None
    readme_reduction: str


def seed_table_entries(num_classes: int = 10) -> list[SeedTableEntry]:
    """Every model of the seed README's CIFAR-10 table (Nov 2017): shift, reduced ResNet, original."""
    entries = []
    for depth in (20, 56, 110):
        for row in (r for r in SEED_C10_NOV2017 if r.depth == depth):
            spec = ModelSpec("shiftresnet", depth, expansion=float(row.expansion), num_classes=num_classes)
            entries.append(SeedTableEntry(f"SRN{depth}", f"a={row.a}", spec, row.params_m, row.shift_reduction))
        for row in (r for r in SEED_C10_NOV2017 if r.depth == depth):
            spec = ModelSpec("resnet", depth, reduction=row.r, reduction_mode="block", shortcut_rule="legacy",
                             num_classes=num_classes)
            entries.append(SeedTableEntry(f"RN{depth}-red", f"r={row.r:g}", spec, None, row.resnet_reduction))
        params_m, _, _ = SEED_ORIGINAL[depth]
        original = ModelSpec("resnet", depth, num_classes=num_classes)
        entries.append(SeedTableEntry(f"RN{depth}", "original", original, params_m, "1.0"))
    return entries


def params_table(rows: list[dict], entries: list[SeedTableEntry] | None = None, title: str = "") -> Table:
    """Rich table of ``model_stats`` rows; with ``entries``, the README's figures and a match mark."""
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAVY, pad_edge=False, collapse_padding=True)
    table.add_column("model", no_wrap=True, max_width=14)
    table.add_column("a / r", no_wrap=True)
    table.add_column("params", justify="right", no_wrap=True)
    table.add_column("M", justify="right", no_wrap=True)
    table.add_column("red.", justify="right", no_wrap=True)
    table.add_column("MACs", justify="right", no_wrap=True)
    if entries is not None:
        table.add_column("seed M", justify="right", no_wrap=True)
        table.add_column("seed red.", justify="right", no_wrap=True)
    for index, row in enumerate(rows):
        cells = [row.get("label", row["name"]), row.get("knob", _knob(row)), f"{row['params']:,}",
                 f"{row['params_m']:.2f}",
                 f"{row['reduction_factor']:.2f}", f"{row['macs'] / 1e6:.2f}M"]
        if entries is not None:
            entry = entries[index]
            if entry.readme_params_m is None:
                cells.append("–")
            else:
                cells.append(_mark(entry.readme_params_m, matches_readme(row["params"] / 1e6, entry.readme_params_m)))
            cells.append(_mark(entry.readme_reduction, matches_readme(row["reduction_factor"], entry.readme_reduction)))
        table.add_row(*cells, end_section=entries is not None and entries[index].knob == "original")
    return table


def _knob(row: dict) -> str:
    if row["arch"] == "shiftresnet":
        return f"a={row['expansion']:g}c"
    if row["reduction"] is not None:
        return f"r={row['reduction']:g} ({row['reduction_mode']}, {row['shortcut_rule']})"
    return "original"


def _mark(printed: str, ok: bool) -> str:
    return f"{printed} [green]✓[/]" if ok else f"{printed} [red]✗[/]"


def preset_rows() -> list[dict]:
    """One training preset per row of the seed README's tables (both versions), for both data sets.

    Names: ``<dataset>-shiftresnet<d>-a<e>c``, ``<dataset>-resnet<d>`` (original),
    ``<dataset>-resnet<d>-r<r>-legacy`` (Nov-2017 reduced rows, legacy shortcut rule) and
    ``<dataset>-resnet<d>-r<r>`` (Jan-2018 reduced rows, current rule, where r is recoverable).
    """
    presets = []
    for dataset in ("cifar10", "cifar100"):
        label = "CIFAR-10" if dataset == "cifar10" else "CIFAR-100"
        for row in SEED_C10_NOV2017:
            shift_acc = row.shift_acc if dataset == "cifar10" else SEED_C100_SHIFT.get((row.depth, row.a))
            presets.append({
                "name": f"{dataset}-shiftresnet{row.depth}-a{row.expansion}c", "dataset": dataset,
                "model": {"arch": "shiftresnet", "depth": row.depth, "expansion": row.expansion},
                "comment": f"{label} ShiftResNet{row.depth} a={row.a}; seed README: {_acc(shift_acc)}",
            })
            presets.append({
                "name": f"{dataset}-resnet{row.depth}-r{row.r:g}-legacy", "dataset": dataset,
                "model": {"arch": "resnet", "depth": row.depth, "reduction": row.r, "reduction_mode": "block",
                          "shortcut_rule": "legacy"},
                "comment": f"{label} ResNet{row.depth} block-reduced r={row.r:g} (Nov-2017 table, "
                           f"legacy shortcut rule, matches a={row.a}); seed README: "
                           f"{_acc(row.resnet_acc if dataset == 'cifar10' else None)}",
            })
            jan = SEED_C10_JAN2018[(row.depth, row.a)]
            if jan[2] is not None:
                presets.append({
                    "name": f"{dataset}-resnet{row.depth}-r{jan[2]:g}", "dataset": dataset,
                    "model": {"arch": "resnet", "depth": row.depth, "reduction": jan[2], "reduction_mode": "block",
                              "shortcut_rule": "current"},
                    "comment": f"{label} ResNet{row.depth} block-reduced r={jan[2]:g} (Jan-2018 table, current rule, "
                               f"matches a={row.a}); seed README: {_acc(jan[1] if dataset == 'cifar10' else None)}",
                })
        for depth, (_, c10, c100) in SEED_ORIGINAL.items():
            presets.append({
                "name": f"{dataset}-resnet{depth}", "dataset": dataset, "model": {"arch": "resnet", "depth": depth},
                "comment": f"{label} ResNet{depth} (original); seed README: "
                           f"{_acc(c10 if dataset == 'cifar10' else c100)}",
            })
    return presets


def _acc(value: float | None) -> str:
    return f"{value:.2f}%" if value is not None else "not reported"


def architecture_key(spec: ModelSpec) -> tuple:
    """What determines the network: equal keys build identical modules (r = 11 and 12 do, for R20)."""
    spec = spec.validated()
    widths = spec.stage_widths
    mids = tuple(spec.mid_width(w) for w in widths)
    legacy = spec.shortcut_rule == "legacy" and mids != widths
    return spec.arch, spec.depth, widths, mids, legacy


def seed_accuracies(spec: ModelSpec, dataset: str) -> list[tuple[str, float]]:
    """The seed README accuracies published for this architecture on ``dataset``, newest first."""
    key = architecture_key(dataset_free(spec))
    refs: list[tuple[str, float]] = []
    for row in SEED_C10_NOV2017:
        shift = architecture_key(ModelSpec("shiftresnet", row.depth, expansion=float(row.expansion)))
        legacy = architecture_key(ModelSpec("resnet", row.depth, reduction=row.r, shortcut_rule="legacy"))
        jan_shift, jan_resnet, jan_r = SEED_C10_JAN2018[(row.depth, row.a)]
        current = architecture_key(ModelSpec("resnet", row.depth, reduction=jan_r)) if jan_r is not None else None
        if dataset == "cifar10":
            if key == shift:
                refs += [("README 2018-01", jan_shift), ("README 2017-11", row.shift_acc)]
            if key == current:
                refs.append(("README 2018-01", jan_resnet))
            if key == legacy and row.r != 1:
                refs.append(("README 2017-11", row.resnet_acc))
        elif key == shift:
            refs.append(("README 2018-01", SEED_C100_SHIFT[(row.depth, row.a)]))
    for depth, (_, c10, c100) in SEED_ORIGINAL.items():
        if key == architecture_key(ModelSpec("resnet", depth)):
            refs.append(("README (original)", c10 if dataset == "cifar10" else c100))
    return refs


def dataset_free(spec: ModelSpec) -> ModelSpec:
    import dataclasses

    return dataclasses.replace(spec, num_classes=10)
