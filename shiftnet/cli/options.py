"""Model flags shared by ``params``, ``train`` and ``bench``, and how they become a ModelSpec.

Flags are plain strings/numbers validated by ModelSpec (not Typer enums), so that every bad value
gets the same one-line message with the valid choices, whichever command it came through.
"""

from __future__ import annotations

from typing import Optional

import typer
from typing_extensions import Annotated

from ..models import ModelSpec, parse_name

Arch = Annotated[Optional[str], typer.Option("--arch", help="resnet, shiftresnet or depthwiseresnet (or a name like shiftresnet56).", show_default=False)]
Depth = Annotated[Optional[int], typer.Option("--depth", help="6n+2: 20, 56, 110, ... (default: 20)", show_default=False)]
Expansion = Annotated[Optional[float], typer.Option("--expansion", "-e", help="ShiftConv expansion a/c (1, 3, 6, 9); implies --arch shiftresnet.", show_default=False)]
Reduction = Annotated[Optional[float], typer.Option("--reduction", help="ResNet width reduction r (see --reduction-mode).", show_default=False)]
ReductionMode = Annotated[Optional[str], typer.Option("--reduction-mode", help="block: shrink each block's inner width to int(C/r); net: scale every width by 1/sqrt(r). (default: block)", show_default=False)]
ShortcutRule = Annotated[Optional[str], typer.Option("--shortcut-rule", help="current: projection iff stride or width changes; legacy: also iff Cin != inner width (the Nov-2017 tables). (default: current)", show_default=False)]


def resolve_arch(arch, depth, expansion, reduction) -> tuple[str | None, int | None]:
    """``--arch shiftresnet56`` splits into arch and depth; with no --arch, ``--expansion`` implies
    shiftresnet and ``--reduction`` resnet (None: leave it to the defaults or the config file)."""
    if arch is not None and any(ch.isdigit() for ch in arch):
        arch, named_depth = parse_name(arch)
        if depth is not None and depth != named_depth:
            raise ValueError(f"--arch {arch}{named_depth} and --depth {depth} disagree; give one of them")
        depth = named_depth
    if arch is None and expansion is not None:
        arch = "shiftresnet"
    elif arch is None and reduction is not None:
        arch = "resnet"
    return arch, depth


def spec_from_flags(arch, depth, expansion, reduction, reduction_mode, shortcut_rule, num_classes: int = 10) -> ModelSpec:
    """ModelSpec from command-line flags (ResNet20 unless they say otherwise)."""
    arch, depth = resolve_arch(arch, depth, expansion, reduction)
    spec = ModelSpec(
        arch=arch or "resnet",
        depth=20 if depth is None else depth,
        expansion=expansion,
        reduction=reduction,
        reduction_mode=reduction_mode or "block",
        shortcut_rule=shortcut_rule or "current",
        num_classes=num_classes,
    )
    return spec.validated()
