"""``shiftnet params``: exact parameter counts, reductions and MACs, beside the seed README's."""

from __future__ import annotations

import json
from typing import Optional

import typer
from typing_extensions import Annotated

from ..enums import DEFAULT_ARCH, DEFAULT_DEPTH, REDUCTION_MODES, SHORTCUT_RULES
from . import options
from .common import cli_errors, console

MODEL_FLAGS = ("arch", "depth", "expansion", "reduction", "reduction_mode", "shortcut_rule")


def params(
    ctx: typer.Context,
    arch: options.Arch = DEFAULT_ARCH,
    depth: options.Depth = DEFAULT_DEPTH,
    expansion: options.Expansion = None,
    reduction: options.Reduction = None,
    reduction_mode: options.ReductionMode = REDUCTION_MODES[0],
    shortcut_rule: options.ShortcutRule = SHORTCUT_RULES[0],
    classes: Annotated[Optional[int], typer.Option("--classes", help=(
        f"{options.CLASSES_HELP} The linear head's size."), show_default="10, or what a name in --arch says")] = None,
    dataset: Annotated[Optional[str], typer.Option("--dataset", help=(
        f"{options.DATASET_HELP} Counts its head (the same as --classes)."), show_default="cifar10")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list of rows instead of a table.")] = False,
) -> None:
    """Count parameters and MACs exactly as the seed's count.py did.

    With no model flags, print every model of the seed README's CIFAR-10 table (ShiftResNet at
    a = c, 3c, 6c, 9c, the parameter-matched reduced ResNets and the originals) next to the
    README's own Params and Reduction figures. With model flags, print that one model (flags left
    out take the defaults shown).
    """
    with cli_errors():
        from ..models import ModelSpec, model_stats
        from ..published import seed_table_entries
        from ..report import params_table

        _, classes = options.dataset_and_classes(dataset, classes)
        picked = options.given(ctx)
        if picked & set(MODEL_FLAGS):
            model_flags = [ctx.params[flag] if flag in picked else None for flag in MODEL_FLAGS]
            spec = options.spec_from_flags(*model_flags, classes)
            classes = spec.num_classes
            if classes not in (10, 100):
                raise ValueError(f"--arch {arch}: a head of 10 or 100 classes only (CIFAR-10, CIFAR-100), "
                                 f"got {classes}")
            rows, entries = [model_stats(spec)], None
            title = f"{spec.name}: parameters and MACs ({classes} classes)"
        else:
            classes = classes or 10
            entries = seed_table_entries(classes)
            rows = [model_stats(e.spec) for e in entries]
            title = f"The seed README's CIFAR-10 table, recounted ({classes}-class heads)"
        if as_json:
            keys = ["name", *ModelSpec().to_dict().keys(), "params", "params_m", "reduction_factor", "macs"]
            print(json.dumps([{key: row[key] for key in keys} for row in rows], indent=2))
            return
        console.print(params_table(rows, entries, title))
        console.print(
            "reduction = params of the unreduced ResNet of the same depth and head / params of the model; "
            "MACs = conv + linear multiply-accumulates for one 32x32 image (not FLOPs), counted from the layer shapes."
        )
        if entries is not None:
            console.print(
                "Reduced ResNets use block reduction with the legacy shortcut rule (projection where Cin != M), "
                "which the Nov-2017 table was made with; seed M / seed red. = the README's Params / Reduction cells; "
                "✓ = our count prints as that figure."
            )
        if classes == 100:
            console.print(
                "[yellow]Note:[/] the seed README's CIFAR-100 table reused the 10-class Params and Reduction "
                "figures; the counts above are the true 100-class ones, so some README cells do not match."
            )
