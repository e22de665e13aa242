"""Checkpoint files: ``last.pt`` (everything to resume exactly) and ``.safetensors`` weights.

``last.pt`` holds only tensors, numbers, strings, lists and dicts, so it loads with
``torch.load(weights_only=True)``: no pickled classes, nothing executes on load. Released weights
are safetensors with the ModelSpec, dataset, epoch and accuracy in the metadata (strings), so
``eval`` needs no model flags. Both also carry ``training_metadata``: the input normalisation the
weights were trained with (scoring them with other statistics gives a wrong accuracy without a
word) and the recipe, epochs and seed (so ``eval`` pools only runs that differ in the seed alone).
Every write goes through ``fileio.atomic_path``.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .data.datasets import SEED_MEAN, SEED_STD, get_dataset
from .errors import UsageError
from .fileio import atomic_path
from .models import ModelSpec

FORMAT = "shiftnet-weights-1"
# Config keys that are not part of the recipe: the model and data set (recorded apart), where and
# how fast it ran, and what is only reported (select_on_test picks the headline, not the weights).
_NOT_RECIPE = {"model": None, "data": {"dataset", "data_dir", "eval_batch_size"}, "optim": {"epochs"},
               "run": {"seed", "device", "compile", "name", "out", "shift_impl", "select_on_test"}}


def normalization_of(name: str, dataset: str) -> dict:
    """The statistics the loader normalises with: the seed's CIFAR-10 figures for both data sets
    (``seed``), or the data set's own (``true``)."""
    info = get_dataset(dataset)
    mean, std = (SEED_MEAN, SEED_STD) if name == "seed" else (info.true_mean, info.true_std)
    return {"name": name, "mean": list(mean), "std": list(std)}


def recipe_of(config: dict) -> dict:
    """The part of a resolved config (``Config.to_dict()``) that changes what training computes,
    beyond the model, data set, epochs and seed."""
    recipe = {}
    for section, values in config.items():
        dropped = _NOT_RECIPE.get(section, set())
        if dropped is not None and isinstance(values, dict):
            recipe[section] = {k: v for k, v in values.items() if k not in dropped}
    return recipe


def training_metadata(config: dict) -> dict:
    """What every checkpoint of a run records besides its weights and spec (see the module doc)."""
    data = config["data"]
    norm = normalization_of(data.get("normalization", "seed"), data["dataset"])
    return {"dataset": data["dataset"], "normalization": norm, "recipe": recipe_of(config),
            "epochs": config["optim"]["epochs"], "seed": config["run"]["seed"]}


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
    """Serialised in memory first: torch.save reports a full disk as an obscure RuntimeError of its
    zip writer, a plain file write as ENOSPC (which ``atomic_path`` turns into "disk full")."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getbuffer())


def _load_failure(exc: Exception) -> str:
    """The useful part of torch.load's message (never its advice to load with weights_only=False)."""
    text = " ".join(str(exc).split())
    if "WeightsUnpickler error:" in text:
        detail = text.split("WeightsUnpickler error:", 1)[1].split("Check the documentation")[0].strip()
        return f"not a torch file of tensors and plain data: {detail[:120]}"
    return text[:200] or type(exc).__name__


def load_run_state(path: Path) -> dict:
    try:
        if Path(path).stat().st_size == 0:
            raise UsageError(f"{path} is empty (0 bytes), not a shiftnet run state")
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UsageError(f"{path} not found") from None
    except UsageError:
        raise
    except Exception as exc:  # noqa: BLE001 - truncated zip, foreign pickle, a folder, ...
        raise UsageError(f"{path} is not a readable shiftnet run state ({_load_failure(exc)})") from None


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


def _normalization_beside(path: Path, meta: dict) -> None:
    """For weights written before checkpoints recorded their normalisation: take it (and the recipe)
    from the run's ``config.yaml`` beside them; failing that, say that the seed's statistics are assumed."""
    import yaml

    config = None
    try:
        config = yaml.safe_load((path.parent / "config.yaml").read_text())
    except (OSError, yaml.YAMLError):
        pass
    data = config.get("data") if isinstance(config, dict) else None
    run = config.get("run") if isinstance(config, dict) else None
    dataset = data.get("dataset") if isinstance(data, dict) else None
    same_run = (dataset in ("cifar10", "cifar100") and meta.get("dataset", dataset) == dataset
                and (not isinstance(run, dict) or meta.get("seed", run.get("seed")) == run.get("seed")))
    if same_run:
        meta["normalization"] = {**normalization_of(data.get("normalization", "seed"), dataset),
                                 "source": f"{path.parent / 'config.yaml'}"}
        meta.setdefault("recipe", recipe_of(config))
    else:
        meta["normalization"] = {**normalization_of("seed", "cifar10"),
                                 "source": "assumed: the seed's statistics (no normalisation recorded)"}


def _spec_of_run(config: dict) -> ModelSpec | None:
    try:
        return ModelSpec(**config["model"], num_classes=get_dataset(config["data"]["dataset"]).num_classes).validated()
    except (KeyError, TypeError, ValueError):
        return None  # a config of another version: the spec is inferred from the weights instead


def load_checkpoint(path: Path) -> tuple[dict, ModelSpec, dict]:
    """Any checkpoint this project reads: ``.safetensors`` (ours), a run's ``last.pt``, or an original
    ``.t7`` (restricted unpickling, architecture inferred). Returns (state_dict, spec, metadata).

    The metadata always has ``format``, ``kind`` and ``normalization`` ({"name", "mean", "std",
    "source"}: the statistics to score with and where they come from); ``dataset``, ``epoch``,
    ``epochs``, ``seed`` and ``recipe`` when known; ``recorded_accuracy`` and ``classes`` for a ``.t7``.
    """
    from .legacy_t7 import load_t7
    from .models.infer import SpecMismatch, infer_spec

    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path} not found")
    try:
        if path.suffix == ".safetensors":
            state, spec, meta = load_weights(path)
            meta["format"] = "safetensors"
            meta.setdefault("kind", "unknown")
            if isinstance(meta.get("normalization"), dict):
                meta["normalization"] = {**meta["normalization"], "source": "metadata"}
            else:
                _normalization_beside(path, meta)
        elif path.suffix == ".pt":
            run = load_run_state(path)
            if run.get("format") != "shiftnet-run-1":
                raise UsageError(f"{path} is not a shiftnet run state (last.pt)")
            state, spec = run["model"], _spec_of_run(run["config"])
            meta = {**(run.get("meta") or training_metadata(run["config"])), "format": "last.pt",
                    "epoch": run["epoch"] - 1, "kind": "last" if run.get("batch", 0) == 0 else "last (mid-epoch)"}
            meta["normalization"] = {**meta["normalization"], "source": "metadata" if run.get("meta") else "config"}
        else:
            state, info = load_t7(path)
            spec = None
            meta = {"format": "t7", "kind": "original .t7", "recorded_accuracy": info["acc"], "epoch": info["epoch"],
                    "classes": info["classes"],
                    "normalization": {**normalization_of("seed", "cifar10"),
                                      "source": "the seed's statistics (original .t7)"}}
            if "cifar100" in path.name:
                meta["dataset"] = "cifar100"
        if spec is None:
            spec = infer_spec(state)
    except SpecMismatch as exc:
        raise UsageError(f"{path}: {exc}") from None
    return state, spec, meta
