"""``shiftnet bench infer``: CPU inference latency in PyTorch eager and in onnxruntime, side by side.

The paper's promise for the shift is cheap inference on small devices, so this times what a
deployment would run: the model in eval mode at batch 1 (one image, latency) and a larger batch
(throughput), in PyTorch and as the exported ONNX file (``export.py``: shift in standard operators)
under onnxruntime. Every contender is timed in interleaved rounds (``timing.interleaved_medians``),
so a shared machine slows them alike and their ratios hold. Each ONNX file is checked against
PyTorch before it is timed.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch

from ..export import export_checked, load_exported
from ..models import ModelSpec, count_params, create_model
from .timing import interleaved_medians


def bench_inference(specs: list[ModelSpec], batch_sizes: list[int], repeats: int,
                    runtimes: tuple[str, ...] = ("eager", "onnx"), progress=None) -> list[dict]:
    """One row per (model, runtime, batch size): median ms per batch and images/s."""
    torch.manual_seed(0)
    device = torch.device("cpu")
    contenders, meta = {}, {}
    with tempfile.TemporaryDirectory(prefix="shiftnet-bench-infer-") as folder:
        for spec in specs:
            model = create_model(spec).eval()
            runners = {"eager": model}
            if "onnx" in runtimes:
                path = Path(folder) / f"{spec.name}.onnx"
                export_checked(model, "onnx", path, torch.randn(8, 3, 32, 32))
                runners["onnx"] = load_exported(path, "onnx")
            for runtime in runtimes:
                for batch in batch_sizes:
                    images = torch.randn(batch, 3, 32, 32)
                    key = (spec.name, runtime, batch)
                    contenders[key] = (lambda run, x: lambda: run(x))(runners[runtime], images)
                    meta[key] = {"model": spec.name, "params": count_params(model), "runtime": runtime,
                                 "batch_size": batch}
            if progress is not None:
                progress()
        with torch.no_grad():
            medians = interleaved_medians(contenders, device, repeats=repeats, warmup=3)
    rows = []
    for key, ms in medians.items():
        rows.append({**meta[key], "ms": ms, "images_per_s": 1e3 * meta[key]["batch_size"] / ms})
    return rows
