"""``shiftnet.load_model``: any checkpoint this project reads, as a ready model, in one line.

A model alone is not enough to use a checkpoint: the images must be normalised with the statistics
it was trained with (the original used its CIFAR-10 figures for both data sets; a run may use each
data set's own). So the model comes back in eval mode with ``.spec`` (its ``ModelSpec``) and
``.pretrained_cfg`` (mean, std, input size, classes, data set, where the weights came from), the
way timm attaches ``pretrained_cfg`` to its models.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from .checkpoint import dataset_of, load_checkpoint
from .errors import UsageError
from .models.infer import SpecMismatch, build_from_state

RUN_FOLDER_CHECKPOINTS = ("final.safetensors", "best.safetensors", "last.pt")  # the order a run folder is read in


def run_checkpoint(folder: Path) -> Path | None:
    """The checkpoint that stands for a run folder: its final weights, else its best, else its last state."""
    return next((folder / name for name in RUN_FOLDER_CHECKPOINTS if (folder / name).is_file()), None)


def load_model(path: str | Path, device: str | torch.device = "cpu", dataset: str | None = None) -> nn.Module:
    """A run folder, ``.safetensors``, ``last.pt`` or original ``.t7`` -> the model, eval mode, on ``device``,
    with ``.spec`` and ``.pretrained_cfg`` attached. ``pretrained_cfg["dataset"]`` is the data set the
    checkpoint records, else ``dataset`` (checked against the head), else None (an original ``.t7`` that
    was not unpacked by ``shiftnet download checkpoints`` records none)."""
    path = Path(path)
    file = run_checkpoint(path) if path.is_dir() else path
    if file is None:
        raise UsageError(f"{path}: no checkpoint in this run folder (looked for {', '.join(RUN_FOLDER_CHECKPOINTS)})")
    state, spec, meta = load_checkpoint(file)
    try:
        model = build_from_state(state, spec)
    except SpecMismatch as exc:
        raise UsageError(f"{file}: {exc}") from None
    norm = meta["normalization"]
    if dataset is not None or meta.get("dataset") is not None:
        dataset = dataset_of(file, spec, meta, dataset).name
    model.spec = spec
    model.pretrained_cfg = {
        "mean": tuple(float(v) for v in norm["mean"]), "std": tuple(float(v) for v in norm["std"]),
        "input_size": (3, 32, 32), "num_classes": spec.num_classes,
        "dataset": dataset,
        "checkpoint": str(file), "kind": meta.get("kind"), "epoch": meta.get("epoch"),
    }
    return model.to(device).eval()
