"""The enumerated choices and model defaults of shiftnet, in one place that imports nothing.

Each value here has this module as its only home: the modules that act on a value (``kernels/op.py``
for the shift implementations, ``models/`` for the architectures, reductions and shortcut rules,
``data/datasets.py`` for the data sets, ``config.py`` for devices, AMP modes and schedules,
``bench/shift.py`` and ``export.py`` for their choices) import it from here, and so does the command
line. Those modules import torch; this one imports nothing, so that ``shiftnet --help`` and every
command's ``--help`` can show choices and defaults without loading torch (issue 13: a fraction of a
second instead of seconds). A value added here is accepted and shown everywhere at once.
"""

from __future__ import annotations

# The architectures that models/archs.py registers, under these names (the registry also takes
# architectures registered at run time; these are the built-in ones that help lists).
RESNET = "resnet"
SHIFTRESNET = "shiftresnet"
DEPTHWISERESNET = "depthwiseresnet"
ARCHS = (RESNET, SHIFTRESNET, DEPTHWISERESNET)

# ModelSpec's defaults. The default architecture is the project's subject: ``train --depth 56`` and
# ``params --depth 56`` both build a ShiftResNet. A ShiftResNet's default expansion is a = c.
DEFAULT_ARCH = SHIFTRESNET
DEFAULT_DEPTH = 20
DEFAULT_EXPANSION = 1.0
# A ResNet's reduction shrinks each block's inner width (block) or every width (net); the first is the
# default. The shortcut rules: current (2018-01 on) and legacy (the Nov-2017 tables, docs/original.md#shortcuts).
REDUCTION_MODES = ("block", "net")
SHORTCUT_RULES = ("current", "legacy")

# The implementations a shift layer can be pinned to, and "auto" (decided per call, kernels/op.py): what
# ``--shift-impl``, the config's ``run.shift_impl`` and ``create_model(shift_impl=)`` accept.
FIXED_SHIFT_IMPLS = ("torch", "cupy", "conv")
SHIFT_IMPLS = ("auto", *FIXED_SHIFT_IMPLS)
# What ``bench shift`` times: the copy floor and every implementation a shift layer can be pinned to.
SHIFT_BENCH_CONTENDERS = ("clone", *FIXED_SHIFT_IMPLS)

# The data sets and their class counts (data/datasets.py builds each one's files and statistics on these).
DATASET_CLASSES = {"cifar10": 10, "cifar100": 100}

# The run config's enumerated settings (config.py checks them; the command line's help lists them).
AMP_MODES = ("off", "bf16", "fp16")
DEVICES = ("auto", "cpu", "cuda")  # and cuda:N
SCHEDULES = ("step", "cosine")
NORMALIZATIONS = ("seed", "true")
BN_INITS = ("ones", "uniform")

# ``shiftnet export``'s formats and the suffix each one's file gets (the first is the default).
EXPORT_FORMATS = {"onnx": ".onnx", "torchscript": ".torchscript.pt", "pt2": ".pt2"}


def choices(values, last: str = "or") -> str:
    """``a, b or c``: how help texts and messages list the values a setting takes."""
    values = [str(value) for value in values]
    return ", ".join(values[:-1]) + f" {last} {values[-1]}" if len(values) > 1 else values[0]
