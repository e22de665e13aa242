"""``shiftnet bench``: measured speed, side by side in one run (never asserted in tests)."""

from __future__ import annotations

from typing import List, Optional

import typer
from rich import box
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from typing_extensions import Annotated

from ..enums import AMP_MODES, FIXED_SHIFT_IMPLS, SHIFT_BENCH_CONTENDERS, choices
from ..runtime import tune_allocator
from . import options
from .common import cli_errors, console, err_console, progress_display, strict_json

bench_app = typer.Typer(help="Measure speed: the shift op (shift), training/eval throughput (train), inference "
                        "latency (infer), the data loader (loader).", no_args_is_help=True)

DTYPES = ("float32", "float16", "bfloat16", "float64")  # torch's names (torch.float32, ...)


def parse_shape(text: str) -> tuple[int, int, int, int]:
    parts = text.replace("x", ",").split(",")
    if len(parts) != 4 or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise ValueError(f"--shape takes N,C,H,W with positive integers, e.g. 128,144,32,32; got {text!r}")
    return tuple(int(p) for p in parts)  # type: ignore[return-value]


def progress_bar(stderr: bool = False) -> Progress:
    return progress_display(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                            console=err_console if stderr else console, transient=True)


@bench_app.command("shift")
def bench_shift(
    expansion: Annotated[List[float], typer.Option("--expansion", "-e", help=(
        "ShiftResNet expansions whose shift shapes to time (repeatable)."))] = [1.0, 3.0, 6.0, 9.0],
    batch_size: Annotated[int, typer.Option("--batch-size", help="Batch size of those shapes.")] = 128,
    shape: Annotated[Optional[List[str]], typer.Option("--shape", help="Time this N,C,H,W shape instead (repeatable).")
                     ] = None,
    dtype: Annotated[Optional[List[str]], typer.Option("--dtype", help=f"{choices(DTYPES)} (repeatable).",
                     show_default="float32 on CPU; float32 and bfloat16 on GPU")] = None,
    impl: Annotated[Optional[List[str]], typer.Option(
        "--impl", help=f"{choices(SHIFT_BENCH_CONTENDERS)} (repeatable).", show_default="all that apply")] = None,
    device: options.Device = "auto",
    channels_last: Annotated[bool, typer.Option("--channels-last", help="Time channels_last (NHWC) tensors.")] = False,
    repeats: Annotated[int, typer.Option(
        "--repeats", help="Timed runs per measurement (the median is reported).")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON rows instead of a table.")] = False,
) -> None:
    """Time the shift: PyTorch path, CuPy kernel (GPU), one-hot depthwise conv (conv), and clone() (the floor).

    The contenders of a shape are timed in interleaved rounds (medians), so their ratios hold on a
    noisy machine. Shapes default to the distinct shift inputs of ShiftResNet20/56/110 (all depths share them) at
    the given expansions and batch size. Reports ms, GB/s (bytes read + written) and x clone.
    """
    with cli_errors():
        import torch

        from ..bench.shift import run_shift_bench, shift_shapes
        from ..models import ModelSpec
        from ..runtime import describe_machine, resolve_device

        tune_allocator()
        dev = resolve_device(device)
        if repeats < 1:
            raise ValueError(f"--repeats must be >= 1, got {repeats}")
        if batch_size < 1:
            raise ValueError(f"--batch-size must be >= 1, got {batch_size}")
        names = dtype or (["float32", "bfloat16"] if dev.type == "cuda" else ["float32"])
        unknown = [n for n in names if n not in DTYPES]
        if unknown:
            raise ValueError(f"unknown --dtype {unknown[0]!r}; choose from {', '.join(DTYPES)}")
        impls = impl or [i for i in SHIFT_BENCH_CONTENDERS if i != "cupy" or dev.type == "cuda"]
        bad = [i for i in impls if i not in SHIFT_BENCH_CONTENDERS]
        if bad:
            raise ValueError(f"unknown --impl {bad[0]!r}; choose from {', '.join(SHIFT_BENCH_CONTENDERS)}")
        if "cupy" in impls and dev.type != "cuda":
            raise ValueError("--impl cupy needs a CUDA device")
        if shape:
            shapes = [parse_shape(s) for s in shape]
        else:
            shapes = []
            for e in expansion:
                spec = ModelSpec("shiftresnet", 20, expansion=e).validated()
                shapes.extend(s for s in shift_shapes(spec, batch_size) if s not in shapes)
        with progress_bar(stderr=as_json) as progress:
            task = progress.add_task("timing", total=len(shapes) * len(names))
            rows = run_shift_bench(shapes, [getattr(torch, n) for n in names], impls, dev, channels_last, repeats,
                                   progress=lambda: progress.advance(task))
        machine = describe_machine(dev)
        if as_json:
            print(strict_json({"machine": machine, "rows": rows}, indent=2))
            return
        console.print(shift_table(rows, f"shift op, median of {repeats} runs; {machine}"))


_SHORT = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16", "float64": "fp64"}


def shift_table(rows: list[dict], title: str) -> Table:
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAVY, pad_edge=False)
    for name in ("shape", "dtype", "impl", "fwd ms", "GB/s", "×clone", "f+b ms", "GB/s", "×clone"):
        table.add_column(name, justify="left" if name in ("shape", "dtype", "impl") else "right", no_wrap=True)
    previous = None
    for row in rows:
        key = (tuple(row["shape"]), row["dtype"])
        table.add_row(
            "x".join(map(str, row["shape"])) if key != previous else "",
            _SHORT.get(row["dtype"], row["dtype"]) if key != previous else "",
            row["impl"], f"{row['fwd_ms']:.3f}", f"{row['fwd_gbps']:.1f}",
            f"{row.get('fwd_x_clone', float('nan')):.2f}",
            f"{row['fwdbwd_ms']:.3f}", f"{row['fwdbwd_gbps']:.1f}", f"{row.get('fwdbwd_x_clone', float('nan')):.2f}",
        )
        previous = key
    return table


DEFAULT_TRAIN_MODELS = ["resnet20", "shiftresnet20:1", "shiftresnet20:3"]


def parse_model(text: str):
    """The ModelSpec of any model name the tool prints (``shiftresnet20_e3``, ``resnet20_r2.8_block``) or the
    short form ``shiftresnet56:6`` (expansion after a colon) / ``resnet20:r2.8`` (reduction)."""
    from ..models import parse_model_name

    try:
        return parse_model_name(text)
    except ValueError as exc:
        raise ValueError(f"--model: {exc}") from None


@bench_app.command("train")
def bench_train(
    model: Annotated[List[str], typer.Option("--model", "-m", help=(
        "Models to time, by any name the tool prints, e.g. resnet20, shiftresnet20_e3 or shiftresnet20:3 (expansion), "
        "resnet20_r2.8_block or resnet20:r2.8 (repeatable)."))] = DEFAULT_TRAIN_MODELS,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Training batch size.")] = 128,
    eval_batch_size: Annotated[int, typer.Option("--eval-batch-size", help="Eval batch size.")] = 500,
    steps: Annotated[int, typer.Option("--steps", help="Timed steps per model (median reported).")] = 10,
    warmup: Annotated[int, typer.Option("--warmup", help="Untimed warm-up steps.")] = 3,
    device: options.Device = "auto",
    channels_last: Annotated[bool, typer.Option("--channels-last", help="NHWC tensors.")] = False,
    amp: options.Amp = "off",
    compile_: Annotated[bool, typer.Option(
        "--compile", help="torch.compile each model (the shift is then fused into its neighbours).")] = False,
    shift_impl: options.ShiftImpl = "auto",
    shift_cost: Annotated[bool, typer.Option("--shift-cost/--no-shift-cost", help=(
        "Also time each ShiftResNet with its shifts replaced by identities, and show the ratio."))] = True,
    setup: Annotated[Optional[List[str]], typer.Option("--setup", help=(
        "Time every model in each of these setups, in the same rounds (repeatable): words joined by +, from eager, "
        f"compile, cl (channels_last), {'/'.join(FIXED_SHIFT_IMPLS)} (shift), e.g. --setup eager --setup compile "
        "--setup cl+conv. Overrides --compile, --channels-last, --shift-impl."))] = None,
    no_malloc_tuning: Annotated[bool, typer.Option("--no-malloc-tuning", help=(
        "Measure with glibc's default malloc (CPU) to see what the tuning buys."))] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON rows instead of a table.")] = False,
) -> None:
    """Training and eval images/s of ResNets and ShiftResNets side by side (synthetic data)."""
    with cli_errors():
        from ..bench.train import bench_models, parse_setup
        from ..runtime import describe_machine, resolve_device

        if not no_malloc_tuning:
            tune_allocator()
        dev = resolve_device(device)
        options.check_choice("--amp", amp, AMP_MODES)
        if min(steps, batch_size, eval_batch_size) < 1 or warmup < 0:
            raise ValueError("--steps, --batch-size and --eval-batch-size must be >= 1, --warmup >= 0")
        specs = [parse_model(m) for m in model]
        setups = [parse_setup(text) for text in setup] if setup else None
        with progress_bar(stderr=as_json) as progress:
            task = progress.add_task("timing (interleaved rounds)", total=steps + warmup)
            rows = bench_models(specs, batch_size, dev, steps, warmup, channels_last, amp, compile_, eval_batch_size,
                                None if shift_impl == "auto" else shift_impl,
                                progress=lambda: progress.advance(task),
                                shift_cost=shift_cost, setups=setups)
        base = rows[0]["train_images_per_s"]
        for row in rows:
            row[f"train_x_{rows[0]['model']}"] = row["train_images_per_s"] / base
        machine = describe_machine(dev)
        if as_json:
            print(strict_json({"machine": machine, "malloc_tuned": not no_malloc_tuning, "rows": rows}, indent=2))
            return
        table = Table(title=f"training/eval throughput, median of {steps} interleaved steps; {machine}",
                      title_justify="left", box=box.SIMPLE_HEAVY, pad_edge=False)
        costs = any("shift_cost" in row for row in rows)
        columns = ["model", "setup", "params", "train img/s", "× row 1", "step ms", "sys %", "eval img/s"]
        for name in columns + (["shift cost train / eval"] if costs else []):
            table.add_column(name, justify="left" if name == "model" else "right", overflow="fold")
        for row in rows:
            cost = f"{row['shift_cost']:.2f} / {row['eval_shift_cost']:.2f}" if "shift_cost" in row else ""
            table.add_row(row["model"] + (" twin, no shift" if row["shift"] == "identity" else ""), row["setup"],
                          f"{row['params']:,}", f"{row['train_images_per_s']:.0f}",
                          f"{row['train_images_per_s'] / base:.2f}", f"{row['train_step_ms']:.1f}",
                          f"{100 * row['sys_fraction']:.0f}", f"{row['eval_images_per_s']:.0f}",
                          *([cost] if costs else []))
        console.print(table)
        if costs:
            console.print("shift cost: step time of the network over its twin with every shift replaced by an identity "
                          "(1.00x = free).")


DEFAULT_INFER_MODELS = ["resnet20", "shiftresnet20:1"]


@bench_app.command("infer")
def bench_infer(
    model: Annotated[List[str], typer.Option("--model", "-m", help="Models to time (repeatable).")
                     ] = DEFAULT_INFER_MODELS,
    batch_size: Annotated[List[int], typer.Option("--batch-size", help="Batch sizes (repeatable).")] = [1, 64],
    repeats: Annotated[int, typer.Option("--repeats", help="Timed rounds (the median is reported).")] = 30,
    no_onnx: Annotated[bool, typer.Option("--no-onnx", help="PyTorch eager only (no onnxruntime needed).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON rows instead of a table.")] = False,
) -> None:
    """CPU inference latency of each model in PyTorch eager and in onnxruntime (the exported file), side by side."""
    with cli_errors():
        import torch

        from ..bench.infer import bench_inference
        from ..runtime import describe_machine

        tune_allocator()
        sizes = batch_size
        if repeats < 1 or min(sizes) < 1:
            raise ValueError("--repeats and --batch-size must be >= 1")
        specs = [parse_model(m) for m in model]
        runtimes = ("eager",) if no_onnx else ("eager", "onnx")
        with progress_bar(stderr=as_json) as progress:
            task = progress.add_task("exporting and checking", total=len(specs))
            rows = bench_inference(specs, sizes, repeats, runtimes, progress=lambda: progress.advance(task))
        machine = describe_machine(torch.device("cpu"))
        first = {(r["runtime"], r["batch_size"]): r["ms"] for r in rows if r["model"] == rows[0]["model"]}
        ratio = f"x_{rows[0]['model']}"
        for row in rows:
            row[ratio] = first[(row["runtime"], row["batch_size"])] / row["ms"]
        if as_json:
            print(strict_json({"machine": machine, "repeats": repeats, "rows": rows}, indent=2))
            return
        table = Table(title=f"CPU inference, median of {repeats} interleaved rounds; {machine}", title_justify="left",
                      box=box.SIMPLE_HEAVY, pad_edge=False)
        for name in ("model", "params", "runtime", "batch", "ms / batch", "img/s", f"speed × {rows[0]['model']}"):
            table.add_column(name, justify="left" if name in ("model", "runtime") else "right", overflow="fold")
        for row in sorted(rows, key=lambda r: (r["batch_size"], r["runtime"])):
            table.add_row(row["model"], f"{row['params']:,}", row["runtime"], str(row["batch_size"]),
                          f"{row['ms']:.2f}", f"{row['images_per_s']:,.0f}", f"{row[ratio]:.2f}")
        console.print(table)


@bench_app.command("loader")
def bench_loader(
    data_dir: Annotated[Optional[str], typer.Option("--data-dir", help=(
        "Use real CIFAR-10 from here if verified (else 50,000 synthetic images)."),
        show_default="$SHIFTNET_DATA or ./data")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Batch size.")] = 128,
    model: Annotated[str, typer.Option(
        "--model", "-m", help="Model whose training speed the loader must beat.")] = "resnet20",
    device: options.Device = "auto",
    epochs: Annotated[int, typer.Option("--epochs", help="Loader passes (median reported).")] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Loader images/s (augmentation included) next to a model's training images/s, same run, same device."""
    with cli_errors():
        import torch

        from ..bench.loader import loader_images_per_s
        from ..bench.train import bench_model
        from ..data import default_data_dir, get_dataset, load_split
        from ..data.datasets import ready_splits
        from ..runtime import describe_machine, resolve_device

        if epochs < 1 or batch_size < 1:
            raise ValueError(f"--epochs and --batch-size must be >= 1, got {epochs} and {batch_size}")
        spec = parse_model(model)
        tune_allocator()
        dev = resolve_device(device)
        folder = default_data_dir(data_dir)
        if "train" in ready_splits(folder, get_dataset("cifar10")):
            images, labels = load_split(folder, "cifar10", train=True)
            source = f"CIFAR-10 train ({folder})"
        else:
            images = torch.randint(0, 256, (50_000, 3, 32, 32), dtype=torch.uint8)
            labels = torch.randint(0, 10, (50_000,))
            source = "50,000 synthetic CIFAR-shaped images"
        loader_rate = loader_images_per_s(images, labels, batch_size, dev, epochs)
        train = bench_model(spec, batch_size, dev, steps=5, warmup=2, channels_last=False, amp="off",
                            compile_model=False, eval_batch_size=batch_size)
        result = {"machine": describe_machine(dev), "source": source, "batch_size": batch_size, "device": dev.type,
                  "loader_images_per_s": loader_rate, "model": train["model"],
                  "train_images_per_s": train["train_images_per_s"], "ratio": loader_rate / train["train_images_per_s"]}
        if as_json:
            print(strict_json(result, indent=2))
            return
        console.print(f"{result['machine']}; data: {source}; batch {batch_size}")
        console.print(f"loader (crop + flip + normalise): {loader_rate:,.0f} img/s")
        console.print(f"{result['model']} training step:       {result['train_images_per_s']:,.0f} img/s")
        console.print(f"loader / training = {result['ratio']:.1f}x")
