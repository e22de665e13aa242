"""Released weights: ``.safetensors`` with what evaluation needs in the metadata, written and read here.

The metadata (JSON strings, format ``shiftnet-weights-1``) holds the ModelSpec, so the model is built
without flags, and ``metadata.training_metadata`` (data set, normalisation, recipe, epochs, seed),
plus what the writer adds (epoch, test accuracy, kind). safetensors holds tensors only: loading runs
nothing from the file. Every write goes through ``fileio.atomic_path``.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from ..errors import UsageError
from ..fileio import atomic_path
from ..models import ModelSpec

WEIGHTS_FORMAT = "shiftnet-weights-1"


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The plain model under DDP / torch.compile wrappers (so keys never get a ``module.`` prefix)."""
    while True:
        if hasattr(model, "_orig_mod"):
            model = model._orig_mod
        elif isinstance(model, torch.nn.parallel.DistributedDataParallel):
            model = model.module
        else:
            return model


def save_weights(path: Path, model: torch.nn.Module, spec: ModelSpec, **metadata) -> None:
    """``model``'s state dict with ``spec`` and each ``metadata`` value (JSON) in the file's metadata."""
    state = {k: v.detach().cpu().contiguous() for k, v in unwrap(model).state_dict().items()}
    meta = {"format": WEIGHTS_FORMAT, "spec": json.dumps(spec.to_dict())}
    meta.update({k: json.dumps(v) for k, v in metadata.items()})
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata=meta)


def load_weights(path: Path) -> tuple[dict, ModelSpec | None, dict]:
    """(state_dict, spec or None, metadata) of a safetensors file; UsageError if unreadable."""
    try:
        state = load_file(str(path))
        with safe_open(str(path), "pt") as handle:
            raw = handle.metadata() or {}
    except FileNotFoundError:
        raise UsageError(f"{path} not found") from None
    except (SafetensorError, OSError, ValueError) as exc:
        raise UsageError(f"{path} is not a readable safetensors file ({exc})") from None
    meta = {}
    for key, value in raw.items():
        try:
            meta[key] = json.loads(value)
        except ValueError:
            meta[key] = value
    spec = None
    if isinstance(meta.get("spec"), dict):
        try:
            spec = ModelSpec.from_dict(meta["spec"])
        except (TypeError, ValueError) as exc:
            raise UsageError(f"{path} has an invalid model spec in its metadata ({exc})") from None
    return state, spec, meta
