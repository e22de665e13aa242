"""``shiftnet plot``: PNG figures where people would rather look than read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer
from typing_extensions import Annotated

from ..errors import UsageError, short_repr
from . import options
from .common import cli_errors, console

plot_app = typer.Typer(help="PNG figures: accuracy vs parameters (params) and training curves (curves).",
                       no_args_is_help=True)


@plot_app.command("params")
def plot_params(
    results: Annotated[Optional[List[Path]], typer.Argument(
        help="Files of `shiftnet eval --json` output (one JSON object per line).")] = None,
    dataset: Annotated[str, typer.Option("--dataset", help=options.DATASET_HELP)] = "cifar10",
    out: Annotated[Path, typer.Option("--out", help="PNG file to write.")] = Path("accuracy_vs_params.png"),
) -> None:
    """Accuracy against parameters per depth: the seed README's points and yours (the paper's key figure)."""
    with cli_errors():
        from ..plots import plot_accuracy_vs_params

        options.dataset_and_classes(dataset, None)
        ours = [row for path in results or [] for row in read_eval_rows(path) if row["dataset"] == dataset]
        console.print(f"wrote {plot_accuracy_vs_params(ours, dataset, out)} ({len(ours)} of your points)")


# What a point needs, as `shiftnet eval --json` writes it: key -> (types, test, what it must be).
_POINT = {
    "dataset": (str, lambda v: True, "a data set name"),
    "arch": (str, lambda v: True, "an architecture name"),
    "knob": (str, lambda v: True, "a string"),
    "depth": (int, lambda v: 0 < v < 10**6, "a positive integer"),
    "params": (int, lambda v: 0 < v < 10**12, "a positive integer"),
    "accuracy": ((int, float), lambda v: 0 <= v <= 100, "a number from 0 to 100"),
}
MAX_RESULTS_BYTES = 64 << 20  # eval writes a few hundred bytes per checkpoint


def read_eval_rows(path: Path) -> list[dict]:
    """The rows of a `shiftnet eval --json` file, each checked to be a point that can be drawn."""
    try:
        if path.stat().st_size > MAX_RESULTS_BYTES:
            raise UsageError(f"{path} is larger than {MAX_RESULTS_BYTES >> 20} MiB: not `shiftnet eval --json` output")
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        raise UsageError(f"{path} not found") from None
    except IsADirectoryError:
        raise UsageError(f"{path} is a folder: give files of `shiftnet eval --json` output") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path} cannot be read as text ({getattr(exc, 'strerror', None) or exc})") from None
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path} line {number}"
        try:
            row = json.loads(line)
        except (ValueError, RecursionError):
            raise UsageError(f"{where} is not JSON: give `shiftnet eval --json` output (one object per line)") from None
        if not isinstance(row, dict):
            raise UsageError(f"{where} is not a JSON object: give `shiftnet eval --json` output")
        for key, (types, test, what) in _POINT.items():
            value = row.get(key)
            if isinstance(value, bool) or not isinstance(value, types) or not test(value):
                raise UsageError(f"{where}: {key} must be {what}, got {short_repr(value)}")
        rows.append(row)
    return rows


@plot_app.command("curves")
def plot_curves_command(
    runs: Annotated[List[Path], typer.Argument(help="Run folders (or metrics.csv files).", show_default=False)],
    out: Annotated[Path, typer.Option("--out", help="PNG file to write.")] = Path("curves.png"),
) -> None:
    """Training curves (accuracy and loss per epoch, train and test) from runs' metrics.csv."""
    with cli_errors():
        from ..plots import plot_curves

        console.print(f"wrote {plot_curves(runs, out)}")
