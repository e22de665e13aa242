"""Score checkpoints: resolve paths, load any supported format, check the head against the data
set, evaluate on the test split, and set the result beside the seed's published number."""

from __future__ import annotations

import glob
from pathlib import Path

import torch

from ..checkpoint import load_checkpoint
from ..data import CifarLoader, get_dataset, load_split
from ..data.datasets import SEED_MEAN, SEED_STD, default_data_dir
from ..errors import UsageError
from ..models import count_params
from ..models.infer import SpecMismatch, build_from_state
from ..report import seed_accuracies
from .evaluate import evaluate

CHECKPOINT_SUFFIXES = (".safetensors", ".t7", ".pt", ".pth")


def resolve_paths(patterns: list[str]) -> list[Path]:
    """Files as given; run folders as their final.safetensors (else best, else last.pt); globs expanded
    (reverse-sorted, as the seed's eval.py did)."""
    paths: list[Path] = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern, recursive=True), reverse=True) if any(ch in pattern for ch in "*?[") else [pattern]
        if not matches:
            raise UsageError(f"{pattern}: no file matches")
        for match in matches:
            path = Path(match)
            if path.is_dir():
                for name in ("final.safetensors", "best.safetensors", "last.pt"):
                    if (path / name).is_file():
                        paths.append(path / name)
                        break
                else:
                    found = sorted(p for p in path.rglob("*") if p.suffix in CHECKPOINT_SUFFIXES)
                    if not found:
                        raise UsageError(f"{path}: no checkpoint in this folder")
                    paths.extend(found)
            elif path.is_file():
                paths.append(path)
            else:
                raise UsageError(f"{path} not found")
    return paths


def knob(spec) -> str:
    if spec.arch == "shiftresnet":
        return f"a={spec.expansion:g}c"
    if spec.reduction is not None:
        rule = ", legacy" if spec.shortcut_rule == "legacy" else ""
        return f"r={spec.reduction:g} ({spec.reduction_mode}{rule})"
    return "original"


class Scorer:
    """Keeps each data set's test split on the device once, for many checkpoints."""

    def __init__(self, data_dir: str | None, batch_size: int, device: torch.device, amp: str = "off"):
        self.data_dir = default_data_dir(data_dir)
        self.batch_size = batch_size
        self.device = device
        self.amp = amp
        self._loaders: dict[str, CifarLoader] = {}

    def _loader(self, dataset: str) -> CifarLoader:
        if dataset not in self._loaders:  # the split moves to the device once, for every checkpoint
            images, labels = load_split(self.data_dir, dataset, train=False)
            self._loaders[dataset] = CifarLoader(images, labels, self.batch_size, train=False, mean=SEED_MEAN,
                                                 std=SEED_STD, device=self.device)
        return self._loaders[dataset]

    def score(self, path: Path, dataset: str | None) -> dict:
        state, spec, meta = load_checkpoint(path)
        chosen = dataset or meta.get("dataset") or ("cifar100" if spec.num_classes == 100 else "cifar10")
        info = get_dataset(chosen)
        if spec.num_classes != info.num_classes:
            raise UsageError(f"{path} has a {spec.num_classes}-class head but {info.name} has {info.num_classes} classes; "
                             f"pass the matching --dataset")
        if meta.get("dataset") and meta["dataset"] != chosen:
            raise UsageError(f"{path} was trained on {meta['dataset']}, not {chosen}; drop --dataset or pass the right one")
        try:
            model = build_from_state(state, spec).to(self.device)
        except SpecMismatch as exc:
            raise UsageError(f"{path}: {exc}") from None
        result = evaluate(model, self._loader(chosen), self.device, self.amp)
        refs = seed_accuracies(spec, chosen)
        row = {
            "path": str(path), "name": spec.name, "arch": spec.arch, "depth": spec.depth, "knob": knob(spec),
            "params": count_params(model), "dataset": chosen, "correct": result["correct"], "total": result["total"],
            "accuracy": result["accuracy"], "loss": result["loss"], "format": meta.get("format"),
            "seed_refs": [{"source": source, "accuracy": value} for source, value in refs],
            "seed_accuracy": refs[0][1] if refs else None, "spec": spec.to_dict(),
        }
        row["difference"] = row["accuracy"] - row["seed_accuracy"] if refs else None
        if meta.get("recorded_acc") is not None:
            row["recorded_accuracy"] = float(meta["recorded_acc"])
        return row
