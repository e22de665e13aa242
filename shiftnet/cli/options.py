"""Flags shared by several commands (model, device, AMP, shift implementation) and how model flags
become a ModelSpec.

Flags are plain strings/numbers validated by ModelSpec or the config (not Typer enums), so that every
bad value gets the same one-line message with the valid choices, whichever command it came through.
Their help texts read the choices from where they are defined (the model registry, ``config.py``,
``kernels/op.py``), never retyped.
"""

from __future__ import annotations

from typing import Optional

import typer
from typing_extensions import Annotated

from ..config import AMP_MODES, DEVICES
from ..kernels import SHIFT_IMPLS
from ..models import DEFAULT_ARCH, ModelSpec, arch_names, get_arch, name_fields, registered


def _choices(values, last: str = "or") -> str:
    values = list(values)
    return ", ".join(values[:-1]) + f" {last} {values[-1]}" if len(values) > 1 else values[0]


Arch = Annotated[Optional[str], typer.Option("--arch", help=(
    f"{_choices(arch_names())}, or a model name as the tool prints it (shiftresnet56, shiftresnet20_e3, "
    f"resnet20_r3.3_block_legacy, resnet20:r2.8). (default: {DEFAULT_ARCH})"), show_default=False)]
Depth = Annotated[Optional[int], typer.Option("--depth", help=(
    "6n+2: 20, 56, 110, ... (default: 20)"), show_default=False)]
Expansion = Annotated[Optional[float], typer.Option("--expansion", "-e", help=(
    "ShiftConv expansion a/c (1, 3, 6, 9); implies an architecture that takes it (shiftresnet)."), show_default=False)]
Reduction = Annotated[Optional[float], typer.Option("--reduction", help=(
    "ResNet width reduction r (see --reduction-mode); implies an architecture that takes it (resnet)."),
    show_default=False)]
ReductionMode = Annotated[Optional[str], typer.Option("--reduction-mode", help=(
    "block: shrink each block's inner width to int(C/r); net: scale every width by 1/sqrt(r). (default: block)"),
    show_default=False)]
ShortcutRule = Annotated[Optional[str], typer.Option("--shortcut-rule", help=(
    "current: projection iff stride or width changes; legacy: also iff Cin != inner width (the Nov-2017 tables). "
    "(default: current)"), show_default=False)]
Device = Annotated[str, typer.Option("--device", help=f"{_choices(DEVICES)} (or cuda:N).")]
Amp = Annotated[str, typer.Option("--amp", help=f"{_choices(AMP_MODES)} (fp16: CUDA only).")]
ShiftImpl = Annotated[Optional[str], typer.Option("--shift-impl", help=(
    f"{_choices(SHIFT_IMPLS)}: the implementation of every shift layer (auto: exact; conv: fastest on a CPU "
    f"with channels_last, exact for finite values). (default: auto)"), show_default=False)]


def check_choice(flag: str, value: str, choices) -> str:
    """``value`` if it is one of ``choices``, else the one-line ValueError every command gives."""
    if value not in choices:
        raise ValueError(f"{flag} must be {_choices(choices)}, got {value[:40]!r}")
    return value


def _arch_taking(field: str) -> str:
    """The architecture that a knob flag given alone implies: the default one if it takes the knob."""
    if get_arch(DEFAULT_ARCH).knob.field == field:
        return DEFAULT_ARCH
    return next(arch.name for arch in registered() if arch.knob.field == field)


def model_fields(arch, depth, expansion, reduction, reduction_mode=None, shortcut_rule=None) -> dict:
    """The ModelSpec fields that the model flags set (None: unset, left to the defaults or a config file).

    ``--arch`` takes an architecture or any model name the tool prints or bench takes
    (``shiftresnet56``, ``shiftresnet20_e3``, ``resnet20_r3.3_block_legacy``, ``resnet20:r2.8``); a flag
    that contradicts the name is refused. With no --arch, --expansion implies shiftresnet and
    --reduction resnet (the registry's first architecture that takes each knob)."""
    fields = {"arch": arch, "depth": depth, "expansion": expansion, "reduction": reduction,
              "reduction_mode": reduction_mode, "shortcut_rule": shortcut_rule}
    if arch is not None and any(ch.isdigit() for ch in arch):
        named = name_fields(arch)
        for key, value in named.items():
            given = fields.get(key)
            if key != "arch" and given is not None and given != value:
                raise ValueError(f"--arch {arch} and --{key.replace('_', '-')} {given} disagree; give one of them")
        fields.update(named)
    for knob in ("expansion", "reduction"):
        if fields["arch"] is None and fields[knob] is not None:
            fields["arch"] = _arch_taking(knob)
    return fields


def spec_from_flags(arch, depth, expansion, reduction, reduction_mode, shortcut_rule,
                    num_classes: int | None = None) -> ModelSpec:
    """ModelSpec from command-line flags (the default architecture, depth 20, 10 classes unless they say otherwise)."""
    fields = model_fields(arch, depth, expansion, reduction, reduction_mode, shortcut_rule)
    named_classes = fields.pop("num_classes", None)
    if named_classes is not None and num_classes is not None and named_classes != num_classes:
        raise ValueError(f"--arch {arch} has {named_classes} classes but --classes is {num_classes}; give one of them")
    fields = {key: value for key, value in fields.items() if value is not None}
    return ModelSpec(**{**fields, "num_classes": named_classes or num_classes or 10}).validated()


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
