"""``shiftnet plot``: PNG figures where people would rather look than read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer
from typing_extensions import Annotated

from ..errors import UsageError
from .common import cli_errors, console

plot_app = typer.Typer(help="PNG figures: accuracy vs parameters (params) and training curves (curves).", no_args_is_help=True)


@plot_app.command("params")
def plot_params(
    results: Annotated[Optional[List[Path]], typer.Argument(help="Files of `shiftnet eval --json` output (one JSON object per line).", show_default=False)] = None,
    dataset: Annotated[str, typer.Option("--dataset", help="cifar10 or cifar100.")] = "cifar10",
    out: Annotated[Path, typer.Option("--out", help="PNG file to write.")] = Path("accuracy_vs_params.png"),
) -> None:
    """Accuracy against parameters per depth: the seed README's points and yours (the paper's key figure)."""
    from ..plots import plot_accuracy_vs_params

    with cli_errors():
        if dataset not in ("cifar10", "cifar100"):
            raise UsageError(f"--dataset must be cifar10 or cifar100, got {dataset!r}")
        ours = []
        for path in results or []:
            try:
                lines = path.read_text().splitlines()
                rows = [json.loads(line) for line in lines if line.strip()]
            except FileNotFoundError:
                raise UsageError(f"{path} not found") from None
            except ValueError:
                raise UsageError(f"{path} is not `shiftnet eval --json` output (one JSON object per line)") from None
            ours.extend(r for r in rows if r.get("dataset") == dataset)
        console.print(f"wrote {plot_accuracy_vs_params(ours, dataset, out)} ({len(ours)} of your points)")


@plot_app.command("curves")
def plot_curves_command(
    runs: Annotated[List[Path], typer.Argument(help="Run folders (or metrics.csv files).", show_default=False)],
    out: Annotated[Path, typer.Option("--out", help="PNG file to write.")] = Path("curves.png"),
) -> None:
    """Training curves (accuracy and loss per epoch, train and test) from runs' metrics.csv."""
    from ..plots import plot_curves

    with cli_errors():
        console.print(f"wrote {plot_curves(runs, out)}")
