"""The per-row presets: one training preset per row of the seed README's tables, for both data sets.

``scripts/make_presets.py`` writes these as the YAML files under ``cifar10/`` and ``cifar100/``;
tests/test_presets.py checks that the committed files are exactly what it writes, so the presets
cannot drift from the published tables (``shiftnet/published.py``).
"""

from __future__ import annotations

from ..published import SEED_C10_JAN2018, SEED_C10_NOV2017, SEED_C100_SHIFT, SEED_ORIGINAL

DATASET_TITLES = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}


def preset_rows() -> list[dict]:
    """One training preset per row of the seed README's tables (both versions), for both data sets.

    Names: ``<dataset>-shiftresnet<d>-a<e>c``, ``<dataset>-resnet<d>`` (original),
    ``<dataset>-resnet<d>-r<r>-legacy`` (Nov-2017 reduced rows, legacy shortcut rule) and
    ``<dataset>-resnet<d>-r<r>`` (Jan-2018 reduced rows, current rule, where r is recoverable).
    """
    presets = []
    for dataset, label in DATASET_TITLES.items():
        c10 = dataset == "cifar10"
        for row in SEED_C10_NOV2017:
            shift_acc = row.shift_acc if c10 else SEED_C100_SHIFT.get((row.depth, row.a))
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
                           f"{_acc(row.resnet_acc if c10 else None)}",
            })
            _, jan_acc, jan_r = SEED_C10_JAN2018[(row.depth, row.a)]
            if jan_r is not None:
                presets.append({
                    "name": f"{dataset}-resnet{row.depth}-r{jan_r:g}", "dataset": dataset,
                    "model": {"arch": "resnet", "depth": row.depth, "reduction": jan_r, "reduction_mode": "block",
                              "shortcut_rule": "current"},
                    "comment": f"{label} ResNet{row.depth} block-reduced r={jan_r:g} (Jan-2018 table, current rule, "
                               f"matches a={row.a}); seed README: {_acc(jan_acc if c10 else None)}",
                })
        for depth, (_, acc10, acc100) in SEED_ORIGINAL.items():
            presets.append({
                "name": f"{dataset}-resnet{depth}", "dataset": dataset, "model": {"arch": "resnet", "depth": depth},
                "comment": f"{label} ResNet{depth} (original); seed README: {_acc(acc10 if c10 else acc100)}",
            })
    return presets


def _acc(value: float | None) -> str:
    return f"{value:.2f}%" if value is not None else "not reported"
