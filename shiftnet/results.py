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
import functools
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


class NotStarted(UsageError):
    """A run folder with a config but no finished epoch yet (no or an empty metrics.csv)."""


# The settings of the seed's recipe (shiftnet/presets/seed.yaml and seed-faithful.yaml, docs/original.md) that
# change what a run computes, and how the label names each; the epoch count is shown on its own.
RECIPE_KEYS = {"data.batch_size": "batch", "data.normalization": "normalization", "optim.lr": "lr",
               "optim.momentum": "momentum", "optim.weight_decay": "weight decay", "optim.nesterov": "nesterov",
               "optim.schedule": "schedule", "optim.milestones": "milestones", "optim.gamma": "gamma",
               "run.amp": "amp"}


@functools.lru_cache(maxsize=1)
def _seed_recipes() -> tuple[dict, ...]:
    from .config import load_config
    from .presets import find_preset

    return tuple(load_config(find_preset(name)).to_dict() for name in ("seed", "seed-faithful"))


def _custom(config) -> list[str]:
    """What ``config`` sets otherwise than both seed recipes, as ``batch 16``, ``nesterov``, ``milestones 1,2``."""
    data, seeds = config.to_dict(), _seed_recipes()
    parts = []
    for key, word in RECIPE_KEYS.items():
        section, name = key.split(".")
        value = data[section][name]
        if all(seed[section][name] != value for seed in seeds):
            shown = ",".join(map(str, value)) if isinstance(value, list) else value
            parts.append((word if value else f"no {word}") if isinstance(value, bool) else f"{word} {shown}")
    return parts


def recipe_label(config) -> str:
    """``seed-faithful`` when all of the original's quirks are on, ``sound`` when none is, else the list;
    preceded by what keeps the run from being compared with the published accuracy: ``smoke (limit_batches
    3)`` (epochs cut short) and ``custom: batch 16, nesterov`` (settings other than the seed's recipe)."""
    quirks = {"momentum reset": config.optim.reset_momentum_each_epoch, "best-on-test": config.run.select_on_test,
              "BN γ~U(0,1)": config.run.bn_weight_init == "uniform"}
    on = [name for name, value in quirks.items() if value]
    label = "seed-faithful" if len(on) == len(quirks) else ("sound" if not on else "+".join(on))
    epochs = config.optim.epochs
    groups = [f"{label}, {epochs} epoch{'' if epochs == 1 else 's'}"]
    custom = _custom(config)
    if custom:
        groups.insert(0, f"custom: {', '.join(custom)}")
    if config.run.limit_batches is not None:
        groups.insert(0, f"smoke (limit_batches {config.run.limit_batches})")
    return "; ".join(groups)


def read_run(folder: Path) -> RunResult:
    """One run folder's result; a folder without both files, or with an empty metrics.csv, is refused."""
    config_path, metrics_path = folder / "config.yaml", folder / "metrics.csv"
    if not config_path.is_file():
        raise UsageError(f"{folder} is not a run folder (needs config.yaml and metrics.csv)")
    if not metrics_path.is_file():
        raise NotStarted(f"{folder} has no metrics.csv yet, so no finished epoch (a run folder needs config.yaml "
                         f"and metrics.csv)")
    try:
        config = from_dict(yaml.safe_load(config_path.read_text()) or {})
        with metrics_path.open(newline="") as handle:
            rows = [{key: float(value) for key, value in row.items()} for row in csv.DictReader(handle)]
    except (yaml.YAMLError, ValueError, TypeError) as exc:
        reason = str(exc).splitlines()[0][:200]
        raise UsageError(f"{folder}: unreadable config.yaml or metrics.csv ({reason})") from None
    if not rows:
        raise NotStarted(f"{folder}: metrics.csv has no finished epoch yet")
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


def read_results(paths: list[Path], skipped: list[str] | None = None) -> list[RunResult]:
    """Every run folder among ``paths`` (a folder of run folders counts as its members), sorted by name.

    A member that has no finished epoch yet (a run just started) is left out, and why appended to
    ``skipped``, rather than failing the whole table; a run folder named itself is read or refused."""
    folders: list[tuple[Path, bool]] = []  # (folder, a member of a folder given)
    for path in paths:
        if (path / "config.yaml").is_file():
            folders.append((path, False))
        elif path.is_dir():
            folders.extend((p, True) for p in sorted(path.iterdir()) if p.is_dir() and (p / "config.yaml").is_file())
        else:
            raise UsageError(f"{path}: no such folder")
    results = []
    for folder, member in folders:
        try:
            results.append(read_run(folder))
        except NotStarted as exc:
            if not member:
                raise
            (skipped if skipped is not None else []).append(f"{exc}; left out")
    if not results:
        raise UsageError(f"no run folders (config.yaml + metrics.csv) in {', '.join(map(str, paths))}"
                         + (f" ({len(folders)} without a finished epoch yet)" if folders else ""))
    return sorted(results, key=lambda result: result.name)


HEADERS = ("run", "model", "data", "recipe", "epochs", "final", "best (epoch; on test)", "original (README)",
           "train time", "img/s")


def table_cells(result: RunResult) -> list[str]:
    epochs = str(result.epochs_done) if result.finished else f"{result.epochs_done} of {result.epochs_total} (running)"
    published = "; ".join(f"{value:.2f} ({label.removeprefix('README ')})"
                          for label, value in result.published) or "–"
    return [result.name, result.model, result.dataset, result.recipe, epochs, f"{result.final_acc:.2f}",
            f"{result.best_acc:.2f} ({result.best_epoch})", published, f"{result.train_hours:.2f} h",
            f"{result.images_per_s:.0f}"]


def markdown_table(results: list[RunResult]) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(table_cells(result)) + " |" for result in results]
    return "\n".join(lines) + "\n"
