"""Checkpoint files: ``last.pt`` (everything to resume exactly) and ``.safetensors`` weights.

``last.pt`` holds only tensors, numbers, strings, lists and dicts, so it loads with
``torch.load(weights_only=True)``: no pickled classes, nothing executes on load. Released weights
are safetensors with the ModelSpec, dataset, epoch and accuracy in the metadata (strings), so
``eval`` needs no model flags. Every write goes through ``fileio.atomic_path``.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .errors import UsageError
from .fileio import atomic_path
from .models import ModelSpec

FORMAT = "shiftnet-weights-1"


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The plain model under DDP / torch.compile wrappers (so keys never get a ``module.`` prefix)."""
    while True:
        if hasattr(model, "_orig_mod"):
            model = model._orig_mod
        elif isinstance(model, torch.nn.parallel.DistributedDataParallel):
            model = model.module
        else:
            return model


def save_run_state(path: Path, state: dict) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_run_state(path: Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UsageError(f"{path} not found") from None
    except Exception as exc:  # noqa: BLE001 - truncated zip, foreign pickle, ...
        raise UsageError(f"{path} is not a readable shiftnet run state ({str(exc).splitlines()[0]})") from None


def save_weights(path: Path, model: torch.nn.Module, spec: ModelSpec, **metadata) -> None:
    state = {k: v.detach().cpu().contiguous() for k, v in unwrap(model).state_dict().items()}
    meta = {"format": FORMAT, "spec": json.dumps(spec.to_dict())}
    meta.update({k: json.dumps(v) for k, v in metadata.items()})
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata=meta)


def load_weights(path: Path) -> tuple[dict, ModelSpec | None, dict]:
    """(state_dict, spec or None, metadata) of a safetensors file; UsageError if unreadable."""
    try:
        state = load_file(str(path))
        from safetensors import safe_open

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


def load_checkpoint(path: Path) -> tuple[dict, ModelSpec, dict]:
    """Any checkpoint this project reads: ``.safetensors`` (ours), a run's ``last.pt``, or an original
    ``.t7`` (restricted unpickling, architecture inferred). Returns (state_dict, spec, metadata)."""
    from .legacy_t7 import load_t7
    from .models.infer import SpecMismatch, infer_spec

    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path} not found")
    try:
        if path.suffix == ".safetensors":
            state, spec, meta = load_weights(path)
            meta["format"] = "safetensors"
        elif path.suffix == ".pt":
            run = load_run_state(path)
            if run.get("format") != "shiftnet-run-1":
                raise UsageError(f"{path} is not a shiftnet run state (last.pt)")
            state, spec = run["model"], None
            meta = {"format": "last.pt", "dataset": run["config"]["data"]["dataset"], "epoch": run["epoch"] - 1}
        else:
            state, info = load_t7(path)
            spec = None
            meta = {"format": "t7", "recorded_acc": info["acc"], "epoch": info["epoch"]}
            if "cifar100" in path.name:
                meta["dataset"] = "cifar100"
        if spec is None:
            spec = infer_spec(state)
    except SpecMismatch as exc:
        raise UsageError(f"{path}: {exc}") from None
    return state, spec, meta
