"""``shiftnet.load_model`` and ``shiftnet.create_model``: any checkpoint this project reads, as a ready model,
in one line, from the checkpoint's side or from the model's (timm's ``checkpoint_path``).

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

from . import models
from .checkpoint import dataset_of, load_checkpoint
from .errors import UsageError
from .models import ModelSpec
from .models.infer import SpecMismatch, build_from_state

RUN_FOLDER_CHECKPOINTS = ("final.safetensors", "best.safetensors", "last.pt")  # the order a run folder is read in


def run_checkpoint(folder: Path) -> Path | None:
    """The checkpoint that stands for a run folder: its final weights, else its best, else its last state."""
    return next((folder / name for name in RUN_FOLDER_CHECKPOINTS if (folder / name).is_file()), None)


def load_model(path: str | Path, device: str | torch.device = "cpu", dataset: str | None = None,
               shift_impl: str | None = None) -> nn.Module:
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
        model = build_from_state(state, spec, shift_impl=shift_impl)
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


def create_model(name_or_spec: ModelSpec | str, *, checkpoint_path: str | Path | None = None,
                 device: str | torch.device = "cpu", shift_impl: str | None = None, **overrides) -> nn.Module:
    """``shiftnet.models.create_model`` plus timm's ``checkpoint_path``: with one, the checkpoint's model as
    ``load_model`` returns it (eval mode, ``.spec``, ``.pretrained_cfg``), refused in one line if it is not the
    model asked for. Only what was asked is compared: ``create_model("shiftresnet20", checkpoint_path=p)`` takes
    a checkpoint of any expansion and class count; a ``ModelSpec`` or an explicit keyword pins that field."""
    if checkpoint_path is None:
        return models.create_model(name_or_spec, shift_impl=shift_impl, **overrides)
    if isinstance(name_or_spec, ModelSpec):
        asked = {**name_or_spec.validated().to_dict(), **overrides}
    else:
        asked = {**models.name_fields(name_or_spec), **overrides}
    models.resolve_spec(name_or_spec, **overrides)  # a request that names no valid model fails as such, first
    model = load_model(checkpoint_path, device=device, shift_impl=shift_impl)
    differs = {key: (want, getattr(model.spec, key)) for key, want in asked.items() if getattr(model.spec, key) != want}
    if differs:
        detail = ", ".join(f"{key} {want!r} but the checkpoint has {got!r}" for key, (want, got) in differs.items())
        raise UsageError(f"{checkpoint_path} holds {model.spec.name}: asked for {detail}")
    return model
