"""``shiftnet train``: flags and config files in, a run folder out; progress with Rich."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from typing_extensions import Annotated

from ..config import load_config
from ..engine.train import Reporter, Trainer, format_epoch
from ..errors import UsageError
from ..presets import find_preset, preset_names
from . import options
from .common import cli_errors, console


def resolve_config_path(value: str | None) -> Path | None:
    """A file path, or the name of a preset shipped in the package (e.g. seed-faithful)."""
    if value is None:
        return None
    path = Path(value)
    if path.is_file():
        return path
    preset = find_preset(value)
    if preset is not None:
        return preset
    raise UsageError(f"--config {value}: no such file or preset (presets: seed, seed-faithful and one per row "
                     f"of the seed's tables, e.g. cifar10-shiftresnet20-a3c; {len(preset_names())} in all)")


def check_run_name(name: str, source: str = "--name") -> str:
    """A run name is one folder inside runs/: a name that climbs out (``../x``) or is a path
    (``/abs``, ``a/b``) would write somewhere the user did not ask for; --out is for that."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name or Path(name).is_absolute():
        raise UsageError(f"{source} {name[:60]!r} is not a run name: it must be one folder name inside runs/ "
                         f"(no '/', no '..'); use --out DIR for a folder elsewhere")
    return name


class RichReporter(Reporter):
    """A progress bar per epoch (loss, accuracy, img/s, ETA; "testing" once the epoch is trained) and one
    summary line per epoch."""

    def __init__(self):
        self.progress = None
        self.task = None

    def message(self, text: str) -> None:
        console.print(text)

    def epoch_start(self, epoch, epochs, batches, done):
        self.progress = Progress(
            TextColumn(f"epoch {epoch + 1}/{epochs} {{task.description}}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.4f} acc {task.fields[acc]:.2f}% {task.fields[ips]:.0f} img/s"),
            TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=True,
        )
        self.progress.start()
        self.task = self.progress.add_task("train", total=batches, completed=done, loss=float("nan"), acc=0.0, ips=0.0)

    def batch(self, done, loss, accuracy, images_per_s):
        if self.progress is not None:
            self.progress.update(self.task, completed=done, loss=loss, acc=accuracy, ips=images_per_s)

    def evaluation_start(self, epoch):
        if self.progress is not None:
            self.progress.update(self.task, description="testing")

    def epoch_end(self, row, epochs):
        self.stop()
        console.print(format_epoch(row, epochs))

    def stop(self):
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


class PlainReporter(Reporter):
    """Lines only (CI, nohup, pipes): one per epoch, plus a heartbeat about every quarter epoch."""

    def __init__(self):
        self.every = 1
        self.next = 1

    def epoch_start(self, epoch, epochs, batches, done):
        self.every = max(1, batches // 4)
        self.next = done + self.every

    def batch(self, done, loss, accuracy, images_per_s):
        if done >= self.next:
            self.next = done + self.every
            print(f"  ... batch {done}: loss {loss:.4f} acc {accuracy:.2f}% {images_per_s:.0f} img/s", flush=True)


def train(
    config: Annotated[Optional[str], typer.Option(
        "--config", show_default=False,
        help="YAML config file or preset name (e.g. seed, seed-faithful, cifar10-shiftresnet20-a3c).")] = None,
    arch: options.Arch = None,
    depth: options.Depth = None,
    expansion: options.Expansion = None,
    reduction: options.Reduction = None,
    reduction_mode: options.ReductionMode = None,
    shortcut_rule: options.ShortcutRule = None,
    dataset: Annotated[Optional[str], typer.Option(
        "--dataset", show_default=False, help="cifar10 or cifar100. (default: cifar10)")] = None,
    data_dir: Annotated[Optional[str], typer.Option(
        "--data-dir", show_default=False, help="Data folder. (default: $SHIFTNET_DATA or ./data)")] = None,
    epochs: Annotated[Optional[int], typer.Option(
        "--epochs", show_default=False, help="Epochs. (default: 164)")] = None,
    batch_size: Annotated[Optional[int], typer.Option(
        "--batch-size", show_default=False,
        help="Global batch size (split across DDP processes). (default: 128)")] = None,
    lr: Annotated[Optional[float], typer.Option(
        "--lr", show_default=False, help="Base learning rate. (default: 0.1)")] = None,
    seed: Annotated[Optional[int], typer.Option(
        "--seed", show_default=False, help="Seeds model init, order, crops and flips. (default: 0)")] = None,
    out: Annotated[Optional[str], typer.Option(
        "--out", show_default=False, help="Run folder. (default: runs/<name>)")] = None,
    name: Annotated[Optional[str], typer.Option(
        "--name", show_default=False, help="Run name (folder under runs/). (default: model_dataset_seed)")] = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Continue the run in the run folder from its last.pt.")] = False,
    amp: Annotated[Optional[str], typer.Option(
        "--amp", show_default=False, help="off, bf16 or fp16 (CUDA). (default: off)")] = None,
    device: Annotated[Optional[str], typer.Option(
        "--device", show_default=False, help="auto, cpu, cuda. (default: auto)")] = None,
    channels_last: Annotated[Optional[bool], typer.Option(
        "--channels-last/--no-channels-last", show_default=False, help="NHWC tensors. (default: off)")] = None,
    compile_: Annotated[Optional[bool], typer.Option(
        "--compile/--no-compile", show_default=False, help="torch.compile the model. (default: off)")] = None,
    limit_batches: Annotated[Optional[int], typer.Option(
        "--limit-batches", show_default=False, help="Train and test batches per epoch (smoke runs).")] = None,
    deterministic: Annotated[Optional[bool], typer.Option(
        "--deterministic/--no-deterministic", show_default=False,
        help="Deterministic algorithms only. (default: off)")] = None,
    sync_bn: Annotated[Optional[bool], typer.Option(
        "--sync-bn/--no-sync-bn", show_default=False, help="SyncBatchNorm under DDP. (default: off)")] = None,
    shift_impl: Annotated[Optional[str], typer.Option(
        "--shift-impl", help="auto (exact), torch, cupy, or conv (fastest on CPU with --channels-last; exact for "
        "finite values). (default: auto)", show_default=False)] = None,
) -> None:
    """Train a model with the seed's recipe (or a config file), reproducibly and resumably.

    Writes runs/<name>/: config.yaml, metrics.csv, last.pt, final.safetensors, best.safetensors.
    Reports the final epoch's test accuracy and, labelled, the best one. Multi-GPU:
    torchrun --nproc-per-node N -m shiftnet train ...
    """
    with cli_errors():
        if name is not None:
            check_run_name(name)
        out_dir = Path(out) if out else (Path("runs") / name if name else None)
        model = options.model_fields(arch, depth, expansion, reduction, reduction_mode, shortcut_rule)
        if "num_classes" in model:  # a name such as shiftresnet20_e3_c100 says which data set
            dataset = options.dataset_for_classes(arch, model.pop("num_classes"), dataset)
        overrides = {
            **{f"model.{key}": value for key, value in model.items()},
            "data.dataset": dataset, "data.data_dir": data_dir, "data.batch_size": batch_size,
            "optim.epochs": epochs, "optim.lr": lr, "run.seed": seed, "run.amp": amp, "run.device": device,
            "run.channels_last": channels_last, "run.compile": compile_, "run.limit_batches": limit_batches,
            "run.deterministic": deterministic, "run.sync_bn": sync_bn, "run.shift_impl": shift_impl,
            "run.name": name, "run.out": out,
        }
        source = resolve_config_path(config)
        if source is None and resume and out_dir is not None and (out_dir / "last.pt").is_file() \
                and (out_dir / "config.yaml").is_file():
            source = out_dir / "config.yaml"  # resume: the saved config, with any flags given on top (then compared)
        cfg = load_config(source, overrides)
        if out_dir is None and not cfg.run.out and cfg.run.name is not None:
            check_run_name(cfg.run.name, "run.name")
        out_dir = out_dir or Path(cfg.run.out or Path("runs") / cfg.run_name())
        reporter = RichReporter() if sys.stdout.isatty() else PlainReporter()
        trainer = Trainer(cfg, out_dir, resume=resume, reporter=reporter)
        if trainer.dist.is_main:
            console.print(f"training {cfg.model_spec().name} on {cfg.data.dataset} ({trainer.device}, "
                          f"{trainer.dist.world_size} process{'es' if trainer.dist.world_size > 1 else ''}) -> "
                          f"{out_dir}")
            if cfg.run.limit_batches is not None:
                limit = cfg.run.limit_batches
                console.print(f"--limit-batches {limit}: each epoch trains on at most {limit} batches and tests on at "
                              f"most {limit} x {cfg.data.eval_batch_size} images: the test set is cut too, so "
                              f"accuracies are not comparable with full runs")
        try:
            summary = trainer.run()
        finally:
            if isinstance(reporter, RichReporter):
                reporter.stop()
        if trainer.dist.is_main and summary["final_acc"] is not None:
            best = f"best {summary['best_acc']:.2f}% at epoch {summary['best_epoch'] + 1} (selected on the test set)"
            if summary["select_on_test"]:
                console.print(f"reported (seed-faithful, selected on the test set): {summary['best_acc']:.2f}%; "
                              f"final epoch {summary['final_acc']:.2f}%")
            else:
                console.print(f"final test accuracy {summary['final_acc']:.2f}%; {best}")
