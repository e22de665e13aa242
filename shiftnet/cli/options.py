"""Flags shared by several commands (model, data set, device, AMP, shift implementation), how model
flags become a ModelSpec, and which flags the command line actually gave.

Flags are plain strings/numbers validated by ModelSpec or the config (not Typer enums), so that every
bad value gets the same one-line message with the valid choices, whichever command it came through.
Their help texts read the choices from ``enums.py`` (their one home, which imports nothing), never
retyped, and never from a module that imports torch: ``--help`` must not load it (issue 13). Defaults show as Typer
shows them, ``[default: X]`` (the value used when the flag is absent) or ``[default: (text)]``
(where the value comes from when no single value is the default).
"""

from __future__ import annotations

from typing import Optional

import typer
from typing_extensions import Annotated

from ..enums import AMP_MODES, ARCHS, DATASET_CLASSES, DEFAULT_ARCH, DEFAULT_EXPANSION, DEVICES, SHIFT_IMPLS, choices

Arch = Annotated[str, typer.Option("--arch", help=(
    f"{choices(ARCHS)}, or a model name as the tool prints it (shiftresnet56, shiftresnet20_e3, "
    f"resnet20_r3.3_block_legacy, resnet20:r2.8)."))]
Depth = Annotated[int, typer.Option("--depth", help="6n+2: 20, 56, 110, ...")]
Expansion = Annotated[Optional[float], typer.Option("--expansion", "-e", help=(
    "ShiftConv expansion a/c (1, 3, 6, 9); implies an architecture that takes it (shiftresnet)."),
    show_default=f"{DEFAULT_EXPANSION:g} where the architecture takes it")]
Reduction = Annotated[Optional[float], typer.Option("--reduction", help=(
    "ResNet width reduction r (see --reduction-mode); implies an architecture that takes it (resnet)."),
    show_default="none: full width")]
ReductionMode = Annotated[str, typer.Option("--reduction-mode", help=(
    "block: shrink each block's inner width to int(C/r); net: scale every width by 1/sqrt(r)."))]
ShortcutRule = Annotated[str, typer.Option("--shortcut-rule", help=(
    "current: projection iff stride or width changes; legacy: also iff Cin != inner width (the Nov-2017 tables)."))]
Device = Annotated[str, typer.Option("--device", help=f"{choices(DEVICES)} (or cuda:N).")]
Amp = Annotated[str, typer.Option("--amp", help=f"{choices(AMP_MODES)} (fp16: CUDA only).")]
ShiftImpl = Annotated[str, typer.Option("--shift-impl", help=(
    f"{choices(SHIFT_IMPLS)}: the implementation of every shift layer (auto: exact; conv: fastest on a CPU "
    f"with channels_last, exact for finite values)."))]
DATASET_HELP = f"The data set: {choices(DATASET_CLASSES)}."
CLASSES_HELP = (f"Classes: {choices(DATASET_CLASSES.values())}, i.e. the data set with that many "
                f"({', '.join(f'{n}: {name}' for name, n in DATASET_CLASSES.items())}); the same as --dataset.")


def given(ctx: typer.Context) -> set[str]:
    """The parameters the command line (or an environment variable) set, as opposed to their defaults.

    A flag whose default is shown in help (``--epochs [default: 164]``) must still not override a
    config file or a resumed run's saved config when it is left out: commands pass only these on."""
    return {name for name in ctx.params
            if getattr(ctx.get_parameter_source(name), "name", "DEFAULT") in ("COMMANDLINE", "ENVIRONMENT")}


def check_choice(flag: str, value: str, valid) -> str:
    """``value`` if it is one of ``valid``, else the one-line ValueError every command gives."""
    if value not in valid:
        raise ValueError(f"{flag} must be {choices(valid)}, got {value[:40]!r}")
    return value


def _arch_taking(field: str) -> str:
    """The architecture that a knob flag given alone implies: the default one if it takes the knob."""
    from ..models import get_arch, registered

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
        from ..models import name_fields

        named = name_fields(arch)
        for key, value in named.items():
            value_given = fields.get(key)
            if key != "arch" and value_given is not None and value_given != value:
                raise ValueError(f"--arch {arch} and --{key.replace('_', '-')} {value_given} disagree; "
                                 f"give one of them")
        fields.update(named)
    for knob in ("expansion", "reduction"):
        if fields["arch"] is None and fields[knob] is not None:
            fields["arch"] = _arch_taking(knob)
    return fields


def spec_from_flags(arch, depth, expansion, reduction, reduction_mode, shortcut_rule, num_classes: int | None = None):
    """ModelSpec from command-line flags (the default architecture, depth 20, 10 classes unless they say otherwise)."""
    from ..models import ModelSpec

    fields = model_fields(arch, depth, expansion, reduction, reduction_mode, shortcut_rule)
    named_classes = fields.pop("num_classes", None)
    if named_classes is not None and num_classes is not None and named_classes != num_classes:
        raise ValueError(f"--arch {arch} has {named_classes} classes but --classes is {num_classes}; give one of them")
    fields = {key: value for key, value in fields.items() if value is not None}
    return ModelSpec(**{**fields, "num_classes": named_classes or num_classes or 10}).validated()


def dataset_and_classes(dataset: str | None, classes: int | None) -> tuple[str | None, int | None]:
    """--dataset NAME and --classes N name one thing, the data set (N: the number of classes it has):
    either may be given, both if they agree. Returns (data set, classes), None for neither."""
    from ..data.datasets import DATASETS

    if dataset is not None:
        check_choice("--dataset", dataset, DATASETS)
    by_classes = {info.num_classes: name for name, info in DATASETS.items()}
    if classes is not None:
        if classes not in by_classes:
            raise ValueError(f"--classes must be {choices(sorted(by_classes))}, got {classes}")
        if dataset is not None and dataset != by_classes[classes]:
            raise ValueError(f"--classes {classes} and --dataset {dataset} ({DATASETS[dataset].num_classes} classes) "
                             f"disagree; give one of them")
        dataset = by_classes[classes]
    return dataset, DATASETS[dataset].num_classes if dataset is not None else None


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
