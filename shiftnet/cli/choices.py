"""The choices and defaults that ``--help`` shows, known without importing torch.

``shiftnet --help`` and every command's ``--help`` must answer in a fraction of a second (issue 13),
and Typer builds help from the commands' signatures when the CLI is imported, so nothing it shows may
come from a module that imports torch. The homes of these values do (the model registry in
``models/``, the shift implementations in ``kernels/op.py``, the data sets in ``data/datasets.py``, the
bench's and export's choices),
so this module holds what help shows of them; ``tests/test_cli_import.py`` holds every value here
equal to its home, so a new architecture, implementation or data set fails a test until it is added.
Commands check their input against the homes themselves (at run time, where torch is loaded anyway);
the config's own enumerations (devices, AMP modes, schedules) are read from ``config.py``, which is
torch-free.
"""

from __future__ import annotations

ARCHS = ("resnet", "shiftresnet", "depthwiseresnet")  # models/archs.py: the registry's built-in entries
DEFAULT_ARCH = "shiftresnet"  # models/spec.py: DEFAULT_ARCH
DEFAULT_DEPTH = 20  # models/spec.py: ModelSpec.depth
DEFAULT_EXPANSION = 1.0  # models/knobs.py: EXPANSION.default (a ShiftResNet's a = c)
REDUCTION_MODES = ("block", "net")  # models/spec.py; the first is ModelSpec's default
SHORTCUT_RULES = ("current", "legacy")  # models/spec.py; the first is ModelSpec's default
SHIFT_IMPLS = ("auto", "torch", "cupy", "conv")  # kernels/op.py: SHIFT_IMPLS (auto, then FIXED_SHIFT_IMPLS)
FIXED_SHIFT_IMPLS = SHIFT_IMPLS[1:]
DATASET_CLASSES = {"cifar10": 10, "cifar100": 100}  # data/datasets.py: DATASETS and their num_classes
SHIFT_BENCH_CONTENDERS = ("clone", *FIXED_SHIFT_IMPLS)  # bench/shift.py: SHIFT_BENCH_CONTENDERS
EXPORT_FORMATS = ("onnx", "torchscript", "pt2")  # export.py: FORMATS (its keys)


def choices(values, last: str = "or") -> str:
    """``a, b or c``: how help texts and messages list the values a flag takes."""
    values = [str(value) for value in values]
    return ", ".join(values[:-1]) + f" {last} {values[-1]}" if len(values) > 1 else values[0]
