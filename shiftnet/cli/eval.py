"""``shiftnet eval`` and ``shiftnet convert``: score any checkpoint; turn a .t7 into safetensors."""

from __future__ import annotations

import hashlib
import json
import statistics
from pathlib import Path
from typing import List, Optional

import typer
from rich import box
from rich.table import Table
from typing_extensions import Annotated

from ..enums import AMP_MODES
from ..errors import UsageError
from ..runtime import tune_allocator
from . import options
from .common import cli_errors, console, strict_json

Dataset = Annotated[Optional[str], typer.Option("--dataset", help=(
    f"{options.DATASET_HELP} Needed for an original .t7 of unknown origin."), show_default="the checkpoint's")]


def eval_command(
    paths: Annotated[List[str], typer.Argument(
        show_default=False, help="Checkpoint files (.safetensors, last.pt, original .t7), run folders or globs.")],
    dataset: Dataset = None,
    data_dir: Annotated[Optional[str], typer.Option(
        "--data-dir", help="Data folder.", show_default="$SHIFTNET_DATA or ./data")] = None,
    batch_size: Annotated[int, typer.Option(
        "--batch-size", help="Evaluation batch size (never changes the result).")] = 500,
    device: options.Device = "auto",
    amp: options.Amp = "off",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object per checkpoint.")] = False,
    predictions: Annotated[bool, typer.Option(
        "--predictions", help="With --json: add each test image's predicted class, in the data set's order.")] = False,
) -> None:
    """Test-set accuracy of checkpoints, beside the accuracy the seed's README reports for that model.

    The architecture comes from the checkpoint (metadata, or inferred from the weights of an
    original .t7), and so do the input normalisation it was trained with (original .t7 files:
    the seed's statistics) and the data set (original .t7 files: that of the archive `shiftnet
    download checkpoints` unpacked them from; --dataset for others); a head that does not fit the
    data set is an error, not a 1% accuracy.
    """
    with cli_errors():
        from ..engine.paths import resolve_paths
        from ..engine.score import Scorer
        from ..runtime import resolve_device

        tune_allocator()
        options.check_choice("--amp", amp, AMP_MODES)
        if batch_size < 1:
            raise ValueError(f"--batch-size must be >= 1, got {batch_size}")
        if predictions and not as_json:
            raise ValueError("--predictions needs --json (the predictions are a field of each JSON object)")
        scorer = Scorer(data_dir, batch_size, resolve_device(device), amp)
        rows = [scorer.score(path, dataset, predictions) for path in resolve_paths(paths)]
        if as_json:
            for row in rows:
                print(strict_json(row))
            return
        for name in sorted({row["dataset"] for row in rows}):
            console.print(accuracy_table([r for r in rows if r["dataset"] == name], name))
        summary, notes = seed_summary(rows)
        if summary is not None:
            console.print(summary)
        for note in notes:
            console.print(note, markup=False, soft_wrap=True)


def accuracy_table(rows: list[dict], dataset: str) -> Table:
    table = Table(title=f"{dataset} test accuracy", title_justify="left", box=box.SIMPLE_HEAVY, pad_edge=False)
    for name in ("checkpoint", "model", "a / r", "params", "accuracy", "correct", "seed README", "diff"):
        if name == "checkpoint":  # the whole path, folded over lines when narrow, never cut short
            table.add_column(name, overflow="fold", ratio=1, min_width=12)
        else:
            table.add_column(name, justify="left" if name in ("model", "a / r") else "right", no_wrap=True)
    for row in rows:
        seed = f"{row['seed_accuracy']:.2f}%" if row["seed_accuracy"] is not None else "–"
        diff = f"{row['difference']:+.2f}" if row["difference"] is not None else "–"
        table.add_row(row["path"], row["name"], row["knob"], f"{row['params']:,}", f"{row['accuracy']:.2f}%",
                      f"{row['correct']}/{row['total']}", seed, diff)
    return table


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:8]


def pool_key(row: dict) -> tuple | None:
    """What two checkpoints must share to be repeats of one experiment that differ only in the seed:
    model, data set, normalisation, recipe, epochs and which checkpoint of the run (final, best
    on test, last after epoch N). None for a checkpoint that does not record them (original .t7
    files, converted or older weights): it is never pooled."""
    if row.get("seed") is None or row.get("recipe") is None or row.get("epochs") is None:
        return None
    kind = row.get("kind")
    if kind not in ("final", "best-on-test"):
        kind = f"{kind} {row.get('epoch')}"
    norm = row["normalization"]
    return (row["dataset"], row["name"], json.dumps(row["spec"], sort_keys=True), _digest([norm["mean"], norm["std"]]),
            _digest(row["recipe"]), row["epochs"], kind)


def seed_summary(rows: list[dict]) -> tuple[Table | None, list[str]]:
    """Mean ± sample std of accuracy over repeats of one experiment (several seeds): what a single
    run cannot say about a 0.3-point difference. Also notes on groups that cannot be pooled."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        key = pool_key(row)
        if key is not None:
            groups.setdefault(key, []).append(row)
    notes, pooled = [], {}
    for key, members in groups.items():
        if len(members) < 2:
            continue
        seeds = [m["seed"] for m in members]
        if len(set(seeds)) < len(seeds):
            paths = ", ".join(m["path"] for m in members)
            notes.append(f"note: not pooled, the same seed appears twice (copies of one run?): {paths}")
            continue
        pooled[key] = members
    if not pooled:
        return None, notes
    table = Table(title="over seeds (checkpoints that differ only in the seed)", title_justify="left",
                  box=box.SIMPLE_HEAVY, pad_edge=False)
    for name in ("dataset", "model", "checkpoint", "epochs", "recipe", "seeds", "mean", "std", "min", "max"):
        left = name in ("dataset", "model", "checkpoint", "recipe", "seeds")
        table.add_column(name, justify="left" if left else "right", no_wrap=True)
    for key, members in sorted(pooled.items()):
        dataset, name, _spec, _norm, recipe, epochs, kind = key
        values = [m["accuracy"] for m in members]
        table.add_row(dataset, name, kind, str(epochs), recipe, ",".join(str(m["seed"]) for m in members),
                      f"{statistics.mean(values):.2f}%", f"{statistics.stdev(values):.2f}", f"{min(values):.2f}%",
                      f"{max(values):.2f}%")
    return table, notes


def convert_command(
    source: Annotated[Path, typer.Argument(
        show_default=False, help="An original .t7 checkpoint (or any checkpoint shiftnet reads).")],
    target: Annotated[Optional[Path], typer.Argument(
        help="Output .safetensors.", show_default="SOURCE with .safetensors")] = None,
    dataset: Dataset = None,
) -> None:
    """Convert a checkpoint to this project's safetensors format (spec and the source's metadata kept);
    print its sha256. --dataset is recorded in the metadata. Never writes over a file, its input included."""
    with cli_errors():
        from ..checkpoint import dataset_of, load_checkpoint, save_weights
        from ..fileio import file_digest
        from ..models.infer import build_from_state

        state, spec, meta = load_checkpoint(source)
        target = target or source.with_suffix(".safetensors")
        if target.resolve() == source.resolve():
            raise UsageError(f"convert would write over its input {source}; give a TARGET path")
        if target.exists():
            raise UsageError(f"{target} already exists; give another TARGET (convert never writes over a file)")
        model = build_from_state(state, spec)
        chosen = dataset_of(source, spec, meta, dataset).name
        extra = {k: v for k, v in meta.items() if k not in ("format", "spec") and v is not None}
        extra["normalization"] = {k: v for k, v in meta["normalization"].items() if k != "source"}
        extra.update({"dataset": chosen, "converted_from": source.name})
        if meta["format"] != "safetensors":  # a copied final.safetensors stays "final"; a .t7 is its own kind
            extra["kind"] = f"converted {meta['format']}"
        save_weights(target, model, spec, **extra)
        console.print(f"{source} -> {target}: {spec.name} ({spec.knob}), sha256 {file_digest(target)}")
