"""Model flags shared by ``params``, ``train`` and ``bench``, and how they become a ModelSpec.

Flags are plain strings/numbers validated by ModelSpec (not Typer enums), so that every bad value
gets the same one-line message with the valid choices, whichever command it came through.
"""

from __future__ import annotations

from typing import Optional

import typer
from typing_extensions import Annotated

from ..models import ModelSpec, name_fields

Arch = Annotated[Optional[str], typer.Option("--arch", help=(
    "resnet, shiftresnet or depthwiseresnet, or a model name as the tool prints it (shiftresnet56, shiftresnet20_e3, "
    "resnet20_r3.3_block_legacy, resnet20:r2.8)."), show_default=False)]
Depth = Annotated[Optional[int], typer.Option("--depth", help=(
    "6n+2: 20, 56, 110, ... (default: 20)"), show_default=False)]
Expansion = Annotated[Optional[float], typer.Option("--expansion", "-e", help=(
    "ShiftConv expansion a/c (1, 3, 6, 9); implies --arch shiftresnet."), show_default=False)]
Reduction = Annotated[Optional[float], typer.Option("--reduction", help=(
    "ResNet width reduction r (see --reduction-mode)."), show_default=False)]
ReductionMode = Annotated[Optional[str], typer.Option("--reduction-mode", help=(
    "block: shrink each block's inner width to int(C/r); net: scale every width by 1/sqrt(r). (default: block)"),
    show_default=False)]
ShortcutRule = Annotated[Optional[str], typer.Option("--shortcut-rule", help=(
    "current: projection iff stride or width changes; legacy: also iff Cin != inner width (the Nov-2017 tables). "
    "(default: current)"), show_default=False)]


def model_fields(arch, depth, expansion, reduction, reduction_mode=None, shortcut_rule=None) -> dict:
    """The ModelSpec fields that the model flags set (None: unset, left to the defaults or a config file).

    ``--arch`` takes an architecture or any model name the tool prints or bench takes
    (``shiftresnet56``, ``shiftresnet20_e3``, ``resnet20_r3.3_block_legacy``, ``resnet20:r2.8``); a flag
    that contradicts the name is refused. With no --arch, --expansion implies shiftresnet and
    --reduction resnet."""
    fields = {"arch": arch, "depth": depth, "expansion": expansion, "reduction": reduction,
              "reduction_mode": reduction_mode, "shortcut_rule": shortcut_rule}
    if arch is not None and any(ch.isdigit() for ch in arch):
        named = name_fields(arch)
        for key, value in named.items():
            given = fields.get(key)
            if key != "arch" and given is not None and given != value:
                raise ValueError(f"--arch {arch} and --{key.replace('_', '-')} {given} disagree; give one of them")
        fields.update(named)
    if fields["arch"] is None and expansion is not None:
        fields["arch"] = "shiftresnet"
    elif fields["arch"] is None and reduction is not None:
        fields["arch"] = "resnet"
    return fields


def spec_from_flags(arch, depth, expansion, reduction, reduction_mode, shortcut_rule,
                    num_classes: int | None = None) -> ModelSpec:
    """ModelSpec from command-line flags (ResNet20 with 10 classes unless they say otherwise)."""
    fields = model_fields(arch, depth, expansion, reduction, reduction_mode, shortcut_rule)
    named_classes = fields.pop("num_classes", None)
    if named_classes is not None and num_classes is not None and named_classes != num_classes:
        raise ValueError(f"--arch {arch} has {named_classes} classes but --classes is {num_classes}; give one of them")
    fields = {key: value for key, value in fields.items() if value is not None}
    return ModelSpec(**{"arch": "resnet", **fields, "num_classes": named_classes or num_classes or 10}).validated()


def dataset_for_classes(name: str, classes: int, dataset: str | None) -> str | None:
    """The data set a model name's class count (``_c100``) stands for; --dataset must agree with it."""
    from ..data.datasets import DATASETS

    matching = [key for key, info in DATASETS.items() if info.num_classes == classes]
    if not matching:
        raise ValueError(f"--arch {name}: no data set has {classes} classes "
                         f"({', '.join(f'{k}: {v.num_classes}' for k, v in DATASETS.items())})")
    if dataset is not None and dataset in DATASETS and dataset not in matching:
        raise ValueError(f"--arch {name} has {classes} classes but --dataset {dataset} has "
                         f"{DATASETS[dataset].num_classes}; give one of them")
    return dataset or matching[0]
