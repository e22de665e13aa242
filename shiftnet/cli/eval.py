"""``shiftnet eval`` and ``shiftnet convert``: score any checkpoint; turn a .t7 into safetensors."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import List, Optional

import typer
from rich import box
from rich.table import Table
from typing_extensions import Annotated

from ..checkpoint import load_checkpoint, save_weights
from ..engine.score import Scorer, knob, resolve_paths
from ..fileio import file_digest
from ..models.infer import build_from_state
from ..runtime import resolve_device, tune_allocator
from .common import cli_errors, console


def eval_command(
    paths: Annotated[List[str], typer.Argument(help="Checkpoint files (.safetensors, last.pt, original .t7), run folders or globs.", show_default=False)],
    dataset: Annotated[Optional[str], typer.Option("--dataset", help="cifar10 or cifar100. (default: from the checkpoint)", show_default=False)] = None,
    data_dir: Annotated[Optional[str], typer.Option("--data-dir", help="Data folder. (default: $SHIFTNET_DATA or ./data)", show_default=False)] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Evaluation batch size (never changes the result).")] = 500,
    device: Annotated[str, typer.Option("--device", help="auto, cpu or cuda.")] = "auto",
    amp: Annotated[str, typer.Option("--amp", help="off, bf16 or fp16 (off unless asked).")] = "off",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object per checkpoint.")] = False,
) -> None:
    """Test-set accuracy of checkpoints, beside the accuracy the seed's README reports for that model.

    The architecture comes from the checkpoint (metadata, or inferred from the weights of an
    original .t7); a head that does not fit the data set is an error, not a 1% accuracy.
    """
    with cli_errors():
        tune_allocator()
        if amp not in ("off", "bf16", "fp16"):
            raise ValueError(f"--amp must be off, bf16 or fp16, got {amp!r}")
        if batch_size < 1:
            raise ValueError(f"--batch-size must be >= 1, got {batch_size}")
        scorer = Scorer(data_dir, batch_size, resolve_device(device), amp)
        rows = [scorer.score(path, dataset) for path in resolve_paths(paths)]
        if as_json:
            for row in rows:
                print(json.dumps(row))
            return
        for name in sorted({row["dataset"] for row in rows}):
            console.print(accuracy_table([r for r in rows if r["dataset"] == name], name))
        summary = seed_summary(rows)
        if summary is not None:
            console.print(summary)


def accuracy_table(rows: list[dict], dataset: str) -> Table:
    table = Table(title=f"{dataset} test accuracy", title_justify="left", box=box.SIMPLE_HEAVY, pad_edge=False)
    for name in ("checkpoint", "model", "a / r", "params", "accuracy", "correct", "seed README", "diff"):
        table.add_column(name, justify="left" if name in ("checkpoint", "model", "a / r") else "right", no_wrap=name != "checkpoint")
    for row in rows:
        seed = f"{row['seed_accuracy']:.2f}%" if row["seed_accuracy"] is not None else "–"
        diff = f"{row['difference']:+.2f}" if row["difference"] is not None else "–"
        table.add_row(row["path"], row["name"], row["knob"], f"{row['params']:,}", f"{row['accuracy']:.2f}%",
                      f"{row['correct']}/{row['total']}", seed, diff)
    return table


def seed_summary(rows: list[dict]) -> Table | None:
    """Mean ± sample std of accuracy for every model evaluated more than once (several seeds):
    what a single run cannot say about a 0.3-point difference."""
    groups: dict[tuple, list[float]] = {}
    for row in rows:
        groups.setdefault((row["dataset"], row["name"]), []).append(row["accuracy"])
    repeated = {key: values for key, values in groups.items() if len(values) > 1}
    if not repeated:
        return None
    table = Table(title="over runs (checkpoints of the same model)", title_justify="left", box=box.SIMPLE_HEAVY, pad_edge=False)
    for name in ("dataset", "model", "runs", "mean", "std", "min", "max"):
        table.add_column(name, justify="left" if name in ("dataset", "model") else "right", no_wrap=True)
    for (dataset, name), values in sorted(repeated.items()):
        table.add_row(dataset, name, str(len(values)), f"{statistics.mean(values):.2f}%", f"{statistics.stdev(values):.2f}",
                      f"{min(values):.2f}%", f"{max(values):.2f}%")
    return table


def convert_command(
    source: Annotated[Path, typer.Argument(help="An original .t7 checkpoint (or any checkpoint shiftnet reads).", show_default=False)],
    target: Annotated[Optional[Path], typer.Argument(help="Output .safetensors. (default: SOURCE with .safetensors)", show_default=False)] = None,
    dataset: Annotated[Optional[str], typer.Option("--dataset", help="Record this data set in the metadata. (default: from the file name / head)", show_default=False)] = None,
) -> None:
    """Convert a checkpoint to this project's safetensors format (spec in the metadata); print its sha256."""
    with cli_errors():
        state, spec, meta = load_checkpoint(source)
        model = build_from_state(state, spec)
        target = target or source.with_suffix(".safetensors")
        chosen = dataset or meta.get("dataset") or ("cifar100" if spec.num_classes == 100 else "cifar10")
        extra = {"dataset": chosen, "converted_from": source.name, "kind": f"converted {meta.get('format')}"}
        if meta.get("recorded_acc") is not None:
            extra["recorded_accuracy"] = float(meta["recorded_acc"])
        if meta.get("epoch") is not None:
            extra["epoch"] = int(meta["epoch"])
        save_weights(target, model, spec, **extra)
        console.print(f"{source} -> {target}: {spec.name} ({knob(spec)}), sha256 {file_digest(target)}")
