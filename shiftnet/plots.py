"""PNG figures: accuracy against parameters (the paper's key comparison) and training curves.

matplotlib is an optional extra (``pip install 'shiftnet[plot]'``); it is imported only here, with
the Agg backend, so plotting works on machines without a display.
"""

from __future__ import annotations

import csv
from pathlib import Path

from .errors import RunError, UsageError
from .fileio import atomic_path
from .models import ModelSpec
from .published import EXPANSIONS, SEED_C10_JAN2018, SEED_C100_SHIFT, SEED_ORIGINAL

COLORS = {20: "tab:blue", 56: "tab:orange", 110: "tab:green"}


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise RunError("plotting needs matplotlib: pip install 'shiftnet[plot]'") from None
    return plt


def seed_points(dataset: str) -> list[dict]:
    """The seed README's (HEAD) accuracies with exact parameter counts for the data set's head."""
    classes = 10 if dataset == "cifar10" else 100
    points = []
    for (depth, a), (shift_acc, resnet_acc, r) in SEED_C10_JAN2018.items():
        shift = shift_acc if dataset == "cifar10" else SEED_C100_SHIFT[(depth, a)]
        points.append({"family": "ShiftResNet", "depth": depth, "label": a, "accuracy": shift,
                       "params": _params("shiftresnet", depth, classes, expansion=float(EXPANSIONS[a]))})
        if dataset == "cifar10" and r is not None:
            points.append({"family": "ResNet (reduced)", "depth": depth, "label": f"r={r:g}", "accuracy": resnet_acc,
                           "params": _params("resnet", depth, classes, reduction=r)})
    for depth, (_, c10, c100) in SEED_ORIGINAL.items():
        points.append({"family": "ResNet (original)", "depth": depth, "label": "",
                       "accuracy": c10 if dataset == "cifar10" else c100, "params": _params("resnet", depth, classes)})
    return points


def _params(arch: str, depth: int, classes: int, **knob) -> int:
    return ModelSpec(arch, depth, num_classes=classes, **knob).validated().parameter_count()


def plot_accuracy_vs_params(ours: list[dict], dataset: str, out: Path) -> Path:
    """Seed points (hollow, dashed) and ours (filled) per depth and family; x is log-scaled params."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5.5))
    styles = {"ShiftResNet": ("o", "-"), "ResNet (reduced)": ("s", "--"), "ResNet (original)": ("*", "")}
    seed = seed_points(dataset)
    for family, (marker, line) in styles.items():
        for depth, color in COLORS.items():
            pts = sorted((p for p in seed if p["family"] == family and p["depth"] == depth), key=lambda p: p["params"])
            if pts:
                ax.plot([p["params"] for p in pts], [p["accuracy"] for p in pts], marker=marker,
                        linestyle=line or "none", color=color, markerfacecolor="none",
                        markersize=9 if marker == "*" else 6, alpha=0.8, label=f"seed {family} {depth}")
    for row in ours:
        family = ("ShiftResNet" if row["arch"] == "shiftresnet" else
                  "ResNet (original)" if row["knob"] == "original" else "ResNet (reduced)")
        ax.plot(row["params"], row["accuracy"], marker=styles.get(family, ("D", ""))[0], linestyle="none",
                color=COLORS.get(row["depth"], "black"), markersize=8, markeredgecolor="black")
    if ours:
        ax.plot([], [], marker="o", linestyle="none", color="gray", markeredgecolor="black", label="ours (filled)")
    ax.set_xscale("log")
    ax.set_xlabel("parameters (log scale)")
    ax.set_ylabel(f"{dataset} test accuracy (%)")
    ax.set_title(f"Accuracy vs parameters on {dataset}: seed README (hollow) and our checkpoints (filled)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=3, loc="lower right")
    return _save(fig, out)


def plot_curves(runs: list[Path], out: Path) -> Path:
    """Test accuracy, train accuracy and loss per epoch from each run's metrics.csv."""
    curves = [(run, read_metrics(run)) for run in runs]  # every input checked before a figure exists
    plt = _pyplot()
    fig, (acc_ax, loss_ax) = plt.subplots(1, 2, figsize=(11, 4.5))
    for index, (run, rows) in enumerate(curves):
        epochs = [int(r["epoch"]) + 1 for r in rows]
        marker = "o" if len(rows) <= 40 else None  # dots on a long run would hide the dashed train line
        color = f"C{index % 10}"
        for ax, column in ((acc_ax, "acc"), (loss_ax, "loss")):
            ax.plot(epochs, [r[f"test_{column}"] for r in rows], marker=marker, markersize=3, color=color,
                    label=f"{run.name} test")
            ax.plot(epochs, [r[f"train_{column}"] for r in rows], linestyle="--", marker=marker, markersize=3,
                    color=color, label=f"{run.name} train")
    acc_ax.set_xlabel("epoch")
    acc_ax.set_ylabel("accuracy (%)")
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("cross-entropy")
    from matplotlib.ticker import MaxNLocator

    for ax in (acc_ax, loss_ax):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("training curves (dashed: train, solid: test)")
    return _save(fig, out)


CURVE_COLUMNS = ("epoch", "train_loss", "train_acc", "test_loss", "test_acc")
MAX_METRICS_BYTES = 64 << 20  # a metrics.csv grows by about 100 bytes an epoch


def read_metrics(run: Path) -> list[dict]:
    """The epochs of a run folder's metrics.csv (or of that file), checked before anything is drawn:
    whatever is wrong is one UsageError naming the file and the line."""
    path = run / "metrics.csv" if run.is_dir() else run
    try:
        if path.stat().st_size > MAX_METRICS_BYTES:
            raise UsageError(f"{path} is larger than {MAX_METRICS_BYTES >> 20} MiB: not a shiftnet metrics.csv")
        with path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in CURVE_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise UsageError(f"{path} is not a shiftnet metrics.csv (no column {', '.join(missing)})")
            raw = list(reader)
    except FileNotFoundError:
        raise UsageError(f"{path} not found: give run folders (or their metrics.csv)") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UsageError(f"{path} cannot be read as a metrics.csv ({getattr(exc, 'strerror', None) or exc})") from None
    if not raw:
        raise UsageError(f"{path} has no epochs yet")
    rows = []
    for number, record in enumerate(raw, 2):
        try:
            row = {c: float(record[c]) for c in CURVE_COLUMNS}
        except (TypeError, ValueError):
            raise UsageError(f"{path} line {number}: {', '.join(CURVE_COLUMNS)} must be numbers") from None
        if not row["epoch"].is_integer() or not 0 <= row["epoch"] < 10**6:
            raise UsageError(f"{path} line {number}: epoch must be a whole number, got {record['epoch'][:20]!r}")
        rows.append(row)
    return rows


def _save(fig, out: Path) -> Path:
    plt = _pyplot()
    out = Path(out)
    fig.tight_layout()
    with atomic_path(out, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
    return out
