"""``shiftnet train``: flags and config files in, a run folder out; progress with Rich."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer
from typing_extensions import Annotated

from ..config import DataConfig, OptimConfig, RunConfig
from ..enums import DEFAULT_ARCH, DEFAULT_DEPTH, REDUCTION_MODES, SCHEDULES, SHORTCUT_RULES, choices
from ..errors import UsageError
from ..presets import find_preset, preset_names
from . import options
from .common import cli_errors, console
from .overrides import parse_assignments, parse_value

_DATA, _OPTIM, _RUN = DataConfig(), OptimConfig(), RunConfig()  # the defaults help shows: the config's own
# The config key of each flag that sets one (the model flags' keys: options.model_fields).
FLAG_KEYS = {
    "dataset": "data.dataset", "data_dir": "data.data_dir", "batch_size": "data.batch_size", "epochs": "optim.epochs",
    "lr": "optim.lr", "momentum": "optim.momentum", "weight_decay": "optim.weight_decay",
    "nesterov": "optim.nesterov", "schedule": "optim.schedule", "milestones": "optim.milestones",
    "gamma": "optim.gamma", "seed": "run.seed", "amp": "run.amp", "device": "run.device",
    "channels_last": "run.channels_last", "compile_": "run.compile", "limit_batches": "run.limit_batches",
    "deterministic": "run.deterministic", "sync_bn": "run.sync_bn", "shift_impl": "run.shift_impl",
    "wandb": "run.wandb", "name": "run.name", "out": "run.out",
}
MODEL_FLAGS = ("arch", "depth", "expansion", "reduction", "reduction_mode", "shortcut_rule")


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


def _flag(param: str) -> str:
    return "--" + param.rstrip("_").replace("_", "-")


def train(
    ctx: typer.Context,
    config: Annotated[Optional[str], typer.Option("--config", help=(
        "YAML config file or preset name (e.g. seed, seed-faithful, cifar10-shiftresnet20-a3c)."))] = None,
    assignments: Annotated[Optional[List[str]], typer.Option("--set", metavar="SECTION.KEY=VALUE", help=(
        "Any config key, typed as config.py declares it (repeatable), e.g. --set optim.reset_momentum_each_epoch=true "
        "--set run.limit_batches=none --set optim.milestones=60,120. Overrides --config; a flag overrides "
        "both, and a key given by --set and by its flag is refused."))] = None,
    arch: options.Arch = DEFAULT_ARCH,
    depth: options.Depth = DEFAULT_DEPTH,
    expansion: options.Expansion = None,
    reduction: options.Reduction = None,
    reduction_mode: options.ReductionMode = REDUCTION_MODES[0],
    shortcut_rule: options.ShortcutRule = SHORTCUT_RULES[0],
    dataset: Annotated[str, typer.Option("--dataset", help=options.DATASET_HELP)] = _DATA.dataset,
    classes: Annotated[Optional[int], typer.Option("--classes", help=options.CLASSES_HELP)] = None,
    data_dir: Annotated[Optional[str], typer.Option(
        "--data-dir", help="Data folder.", show_default="$SHIFTNET_DATA or ./data")] = None,
    epochs: Annotated[int, typer.Option("--epochs", help="Epochs.")] = _OPTIM.epochs,
    batch_size: Annotated[int, typer.Option(
        "--batch-size", help="Global batch size (split across DDP processes).")] = _DATA.batch_size,
    lr: Annotated[float, typer.Option("--lr", help="Base learning rate.")] = _OPTIM.lr,
    momentum: Annotated[float, typer.Option("--momentum", help="SGD momentum.")] = _OPTIM.momentum,
    weight_decay: Annotated[float, typer.Option(
        "--weight-decay", help="L2 weight decay (SGD's).")] = _OPTIM.weight_decay,
    nesterov: Annotated[bool, typer.Option("--nesterov/--no-nesterov", help="Nesterov momentum.")] = _OPTIM.nesterov,
    schedule: Annotated[str, typer.Option("--schedule", help=(
        f"{choices(SCHEDULES)}: lr x --gamma at each of --milestones, or cosine to 0 over the epochs."))
    ] = _OPTIM.schedule,
    milestones: Annotated[str, typer.Option("--milestones", help=(
        "Comma-separated 0-based epochs from which the step schedule multiplies lr by --gamma."))
    ] = ",".join(map(str, _OPTIM.milestones)),
    gamma: Annotated[float, typer.Option("--gamma", help="The step schedule's factor.")] = _OPTIM.gamma,
    seed: Annotated[int, typer.Option("--seed", help="Seeds model init, order, crops and flips.")] = _RUN.seed,
    out: Annotated[Optional[str], typer.Option("--out", help="Run folder.", show_default="runs/<name>")] = None,
    name: Annotated[Optional[str], typer.Option(
        "--name", help="Run name (folder under runs/).", show_default="<model>_<dataset>_s<seed>")] = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Continue the run in the run folder from its last.pt.")] = False,
    amp: options.Amp = _RUN.amp,
    device: options.Device = _RUN.device,
    channels_last: Annotated[bool, typer.Option(
        "--channels-last/--no-channels-last", help="NHWC tensors.")] = _RUN.channels_last,
    compile_: Annotated[bool, typer.Option("--compile/--no-compile", help="torch.compile the model.")] = _RUN.compile,
    limit_batches: Annotated[Optional[int], typer.Option(
        "--limit-batches", help="Train and test batches per epoch (smoke runs).", show_default="all")] = None,
    deterministic: Annotated[bool, typer.Option(
        "--deterministic/--no-deterministic", help="Deterministic algorithms only.")] = _RUN.deterministic,
    sync_bn: Annotated[bool, typer.Option("--sync-bn/--no-sync-bn", help="SyncBatchNorm under DDP.")] = _RUN.sync_bn,
    shift_impl: options.ShiftImpl = _RUN.shift_impl,
    wandb: Annotated[bool, typer.Option("--wandb/--no-wandb", help=(
        "Log to Weights & Biases (the wandb extra; WANDB_MODE=offline logs locally)."))] = _RUN.wandb,
) -> None:
    """Train a model with the seed's recipe (or a config file), reproducibly and resumably.

    Writes runs/<name>/: config.yaml, metrics.csv, last.pt, final.safetensors, best.safetensors.
    Reports the final epoch's test accuracy and, labelled, the best one. Defaults are the config's
    own; values come from --config, then --set, then the flags given (a flag left out never overrides
    the file, nor a resumed run's saved config). Multi-GPU: torchrun --nproc-per-node N -m shiftnet train ...
    """
    with cli_errors():
        from ..config import load_config
        from ..engine.reporting import summary_line
        from ..engine.train import Trainer
        from .reporters import PlainReporter, RichReporter

        picked = {param: ctx.params[param] for param in options.given(ctx)}  # only what the command line gave
        assigned = parse_assignments(assignments)
        flags = _flag_overrides(picked)
        clash = [key for key in flags if key in assigned]
        if clash:
            raise UsageError(f"--set {clash[0]} and the flag {flags[clash[0]][1]} both give {clash[0]}; give it once")
        overrides = {**assigned, **{key: value for key, (value, _) in flags.items()}}
        name, out = overrides.get("run.name"), overrides.get("run.out")
        if name is not None:
            check_run_name(name, "--name" if "name" in picked else "run.name")
        out_dir = Path(out) if out else (Path("runs") / name if name else None)
        source = resolve_config_path(config)
        cfg = load_config(source, overrides)
        if out_dir is None and not cfg.run.out and cfg.run.name is not None:
            check_run_name(cfg.run.name, "run.name")
        out_dir = out_dir or Path(cfg.run.out or Path("runs") / cfg.run_name())
        if source is None and resume and (out_dir / "last.pt").is_file() and (out_dir / "config.yaml").is_file():
            # resume: the saved config, with any flags given on top (then compared), whether the folder was
            # named (--name, --out) or is the default runs/<model>_<dataset>_s<seed> the flags above name
            cfg = load_config(out_dir / "config.yaml", overrides)
        reporter = RichReporter() if sys.stdout.isatty() else PlainReporter()
        trainer = Trainer(cfg, out_dir, resume=resume, reporter=reporter)
        try:
            summary = trainer.run()
        finally:
            if isinstance(reporter, RichReporter):
                reporter.stop()
        line = summary_line(summary)  # train.log ends with the same words ("finished: ...")
        if trainer.dist.is_main and line is not None:
            console.print(line)

def _flag_overrides(picked: dict) -> dict[str, tuple]:
    """{config key: (value, the flag that gave it)} for the flags the command line gave."""
    fields = options.model_fields(*(picked.get(param) for param in MODEL_FLAGS))
    given = {f"model.{key}": (value, _flag(key) if key in picked else "--arch")
             for key, value in fields.items() if value is not None and key != "num_classes"}
    dataset = picked.get("dataset")  # checked with the config (the message names the data sets), unless --classes:
    if "classes" in picked:
        dataset, _ = options.dataset_and_classes(dataset, picked["classes"])
    if "num_classes" in fields:  # a name such as shiftresnet20_e3_c100 says which data set
        dataset = options.dataset_for_classes(picked["arch"], fields["num_classes"], dataset)
    if dataset is not None:
        given["data.dataset"] = (dataset, "--dataset" if "dataset" in picked else "--classes" if "classes" in picked
                                 else "--arch")
    for param, key in FLAG_KEYS.items():
        if param in picked and param != "dataset":
            value = picked[param]
            if param == "milestones":
                try:
                    value = parse_value(value, list[int])
                except ValueError:
                    raise UsageError(f"--milestones takes epochs joined by commas, e.g. 82,123; "
                                     f"got {value!r}") from None
            given[key] = (value, _flag(param))
    return given


def __getattr__(attribute: str):
    """The reporters, from where they used to be defined (importing them imports the engine, so torch)."""
    if attribute in ("PlainReporter", "RichReporter"):
        from . import reporters

        return getattr(reporters, attribute)
    raise AttributeError(f"module {__name__!r} has no attribute {attribute!r}")
