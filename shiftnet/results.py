"""The reproduction table: run folders (``config.yaml`` + ``metrics.csv``) beside the original's numbers.

A run worth keeping is committed as ``results/<run name>/`` with only its resolved config and its
per-epoch metrics (no weights). Everything the README's reproduction table says is derived from
those two files here, so the table is generated, never typed: the model and recipe from the config,
the final epoch's and the best epoch's test accuracy from the metrics (the best is selected on the
test set, as the original did, and labelled so), the training wall time and throughput, and the
original README's published accuracies for the same architecture. A run still in progress shows
how many epochs it has done.
"""

from __future__ import annotations

import csv
import statistics
from dataclasses import dataclass
from pathlib import Path

import yaml

from .config import from_dict
from .errors import UsageError
from .published import seed_accuracies


@dataclass(frozen=True)
class RunResult:
    """What one run folder shows: enough for a row of the reproduction table."""

    name: str
    model: str
    dataset: str
    recipe: str
    epochs_done: int
    epochs_total: int
    final_acc: float
    best_acc: float
    best_epoch: int  # 1-based
    train_hours: float
    images_per_s: float
    published: tuple[tuple[str, float], ...]

    @property
    def finished(self) -> bool:
        return self.epochs_done >= self.epochs_total


def recipe_label(config) -> str:
    """``seed-faithful`` when all of the original's quirks are on, ``sound`` when none is, else the list."""
    quirks = {"momentum reset": config.optim.reset_momentum_each_epoch, "best-on-test": config.run.select_on_test,
              "BN γ~U(0,1)": config.run.bn_weight_init == "uniform"}
    on = [name for name, value in quirks.items() if value]
    label = "seed-faithful" if len(on) == len(quirks) else ("sound" if not on else "+".join(on))
    return f"{label}, {config.optim.epochs} epochs"


def read_run(folder: Path) -> RunResult:
    """One run folder's result; a folder without both files, or with an empty metrics.csv, is refused."""
    config_path, metrics_path = folder / "config.yaml", folder / "metrics.csv"
    if not config_path.is_file() or not metrics_path.is_file():
        raise UsageError(f"{folder} is not a run folder (needs config.yaml and metrics.csv)")
    try:
        config = from_dict(yaml.safe_load(config_path.read_text()) or {})
        with metrics_path.open(newline="") as handle:
            rows = [{key: float(value) for key, value in row.items()} for row in csv.DictReader(handle)]
    except (yaml.YAMLError, ValueError, TypeError) as exc:
        reason = str(exc).splitlines()[0][:200]
        raise UsageError(f"{folder}: unreadable config.yaml or metrics.csv ({reason})") from None
    if not rows:
        raise UsageError(f"{folder}: metrics.csv has no finished epoch yet")
    best = max(rows, key=lambda row: row["test_acc"])  # the first of equal maxima, as the original kept it
    spec = config.model_spec()
    return RunResult(
        name=folder.name, model=spec.name, dataset=config.data.dataset, recipe=recipe_label(config),
        epochs_done=len(rows), epochs_total=config.optim.epochs, final_acc=rows[-1]["test_acc"],
        best_acc=best["test_acc"], best_epoch=int(best["epoch"]) + 1,
        train_hours=sum(row["seconds"] for row in rows) / 3600,
        images_per_s=statistics.median(row["images_per_s"] for row in rows),
        published=tuple(seed_accuracies(spec, config.data.dataset)),
    )


def read_results(paths: list[Path]) -> list[RunResult]:
    """Every run folder among ``paths`` (a folder of run folders counts as its members), sorted by name."""
    folders: list[Path] = []
    for path in paths:
        if (path / "config.yaml").is_file():
            folders.append(path)
        elif path.is_dir():
            folders.extend(sorted(p for p in path.iterdir() if p.is_dir() and (p / "config.yaml").is_file()))
        else:
            raise UsageError(f"{path}: no such folder")
    if not folders:
        raise UsageError(f"no run folders (config.yaml + metrics.csv) in {', '.join(map(str, paths))}")
    return sorted((read_run(folder) for folder in folders), key=lambda result: result.name)


HEADERS = ("run", "model", "data", "recipe", "epochs", "final", "best (epoch; on test)", "original (README)",
           "train time", "img/s")


def table_cells(result: RunResult) -> list[str]:
    epochs = str(result.epochs_done) if result.finished else f"{result.epochs_done} of {result.epochs_total} (running)"
    published = "; ".join(f"{value:.2f} ({label.removeprefix('README ')})" for label, value in result.published) or "–"
    return [result.name, result.model, result.dataset, result.recipe, epochs, f"{result.final_acc:.2f}",
            f"{result.best_acc:.2f} ({result.best_epoch})", published, f"{result.train_hours:.2f} h",
            f"{result.images_per_s:.0f}"]


def markdown_table(results: list[RunResult]) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(table_cells(result)) + " |" for result in results]
    return "\n".join(lines) + "\n"
