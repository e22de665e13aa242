"""Any checkpoint this project reads, as (state dict, ModelSpec, metadata): one entry point for eval,
``load_model``, convert and export, whatever the file's format.

``.safetensors`` (``weights``) and ``last.pt`` (``run_state``) carry their spec and metadata; an
original ``.t7`` (``legacy_t7``) carries neither, so its architecture is inferred from its tensors, its
normalisation is the seed's (docs/original.md#recipe), and its data set is the one the pretrained
registry gives the archive it was unpacked from (``pretrained.archive_of``). No file name is read for
any of these: a ``.t7`` of unknown origin is scored only on the data set the user names.
"""

from __future__ import annotations

from pathlib import Path

from ..config import from_dict
from ..data.datasets import DATASETS, DatasetInfo, get_dataset
from ..errors import UsageError
from ..models import ModelSpec
from .metadata import metadata_beside, normalization_of, training_metadata
from .pretrained import archive_of
from .run_state import RunState
from .weights import load_weights

T7_SOURCE = "the seed's statistics (original .t7)"


def _spec_of_config(config: dict) -> ModelSpec | None:
    """The spec a saved config describes; None for a config this version cannot read (the spec is then
    inferred from the weights)."""
    try:
        return from_dict(config).model_spec()
    except (UsageError, KeyError, TypeError, ValueError):
        return None


def _read_safetensors(path: Path) -> tuple[dict, ModelSpec | None, dict]:
    state, spec, meta = load_weights(path)
    meta["format"] = "safetensors"
    meta.setdefault("kind", "unknown")
    if isinstance(meta.get("normalization"), dict):
        meta["normalization"] = {**meta["normalization"], "source": "metadata"}
    else:
        metadata_beside(path, meta)
    return state, spec, meta


def _read_run_state(path: Path) -> tuple[dict, ModelSpec | None, dict]:
    run = RunState.load(path)
    recorded = run.meta is not None
    meta = {**(run.meta if recorded else training_metadata(run.config)), "format": "last.pt",
            "epoch": run.progress.epoch - 1, "kind": "last" if run.progress.batch == 0 else "last (mid-epoch)"}
    meta["normalization"] = {**meta["normalization"], "source": "metadata" if recorded else "config"}
    return run.model, _spec_of_config(run.config), meta


def _read_t7(path: Path) -> tuple[dict, None, dict]:
    from .legacy_t7 import load_t7

    state, info = load_t7(path)
    meta = {"format": "t7", "kind": "original .t7", "recorded_accuracy": info["acc"], "epoch": info["epoch"],
            "classes": info["classes"], "normalization": {**normalization_of("seed", "cifar10"), "source": T7_SOURCE}}
    archive = archive_of(path)
    if archive is not None:
        meta.update(dataset=archive.dataset, archive=archive.name)
    return state, None, meta


def load_checkpoint(path: Path) -> tuple[dict, ModelSpec, dict]:
    """Any checkpoint this project reads: ``.safetensors`` (ours), a run's ``last.pt``, or an original
    ``.t7`` (restricted unpickling, architecture inferred). Returns (state_dict, spec, metadata).

    The metadata always has ``format``, ``kind`` and ``normalization`` ({"name", "mean", "std",
    "source"}: the statistics to score with and where they come from); ``dataset``, ``epoch``,
    ``epochs``, ``seed`` and ``recipe`` when known; ``recorded_accuracy`` and ``classes`` (the module
    classes it names) for a ``.t7``, and ``archive`` when the registry knows the one it came from.
    """
    from ..models.infer import SpecMismatch, infer_spec

    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path} not found")
    read = {".safetensors": _read_safetensors, ".pt": _read_run_state}.get(path.suffix, _read_t7)
    state, spec, meta = read(path)
    try:
        return state, spec or infer_spec(state), meta
    except SpecMismatch as exc:
        raise UsageError(f"{path}: {exc}") from None


def dataset_of(path: Path, spec: ModelSpec, meta: dict, asked: str | None) -> DatasetInfo:
    """The data set to score (or record) a checkpoint with: ``asked`` (``--dataset``), else the one it
    records. One line if there is none, if the head does not fit it, or if it contradicts the record."""
    recorded = meta.get("dataset")
    chosen = asked or recorded
    if chosen is None:
        raise UsageError(f"{path} does not record its data set (an original .t7 not unpacked by `shiftnet download "
                         f"checkpoints`); pass --dataset ({' or '.join(DATASETS)})")
    info = get_dataset(chosen)
    if spec.num_classes != info.num_classes:
        raise UsageError(f"{path} has a {spec.num_classes}-class head but {info.name} has {info.num_classes} classes; "
                         f"pass the matching --dataset")
    if recorded and recorded != info.name:
        raise UsageError(f"{path} was trained on {recorded}, not {info.name}; drop --dataset or pass the right one")
    return info
