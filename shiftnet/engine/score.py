"""Score checkpoints: load any supported format, check the head against the data set, evaluate on
the test split with the normalisation the checkpoint was trained with, and set the result beside
the seed's published number. Which files the command line names is ``paths``."""

from __future__ import annotations

from pathlib import Path

import torch

from ..checkpoint import dataset_of, load_checkpoint
from ..data import CifarLoader, load_split
from ..data.datasets import default_data_dir
from ..errors import UsageError
from ..models import count_params
from ..models.infer import SpecMismatch, build_from_state
from ..published import seed_accuracies
from .evaluate import evaluate


def _rounded(value: float | None, digits: int) -> float | None:
    """JSON rows carry numbers as a reader writes them (91.3, not 91.30000000000001)."""
    return None if value is None else round(float(value), digits)


class _Recorder(torch.nn.Module):
    """Passes the model's logits through and keeps each image's predicted class, so the one
    evaluation pass also yields the predictions."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model
        self.predictions: list[torch.Tensor] = []

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        logits = self.model(inputs)
        self.predictions.append(logits.argmax(1).cpu())
        return logits


class Scorer:
    """Keeps each test split on the device once per normalisation, for many checkpoints."""

    def __init__(self, data_dir: str | None, batch_size: int, device: torch.device, amp: str = "off"):
        self.data_dir = default_data_dir(data_dir)
        self.batch_size = batch_size
        self.device = device
        self.amp = amp
        self._splits: dict[str, tuple] = {}
        self._loaders: dict[tuple, CifarLoader] = {}

    def _loader(self, dataset: str, mean: tuple, std: tuple) -> CifarLoader:
        if dataset not in self._splits:  # read once from disk, moved to the device once
            images, labels = load_split(self.data_dir, dataset, train=False)
            self._splits[dataset] = (images.to(self.device), labels.to(self.device))
        key = (dataset, mean, std)
        if key not in self._loaders:
            images, labels = self._splits[dataset]
            self._loaders[key] = CifarLoader(images, labels, self.batch_size, train=False, mean=mean, std=std,
                                             device=self.device)
        return self._loaders[key]

    def score(self, path: Path, dataset: str | None, predictions: bool = False) -> dict:
        """One row: what the checkpoint is, how it was scored, and its accuracy beside the seed's."""
        state, spec, meta = load_checkpoint(path)
        norm = meta["normalization"]
        try:
            mean, std = tuple(float(v) for v in norm["mean"]), tuple(float(v) for v in norm["std"])
        except (KeyError, TypeError, ValueError):
            raise UsageError(f"{path} has malformed normalisation metadata ({norm!r})") from None
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise UsageError(f"{path} has malformed normalisation metadata ({norm!r})")
        try:
            model = build_from_state(state, spec).to(self.device)
        except SpecMismatch as exc:
            raise UsageError(f"{path}: {exc}") from None
        chosen = dataset_of(path, spec, meta, dataset).name
        recorder = _Recorder(model)
        result = evaluate(recorder, self._loader(chosen, mean, std), self.device, self.amp)
        refs = seed_accuracies(spec, chosen)
        row = {
            "path": str(path), "name": spec.name, "arch": spec.arch, "depth": spec.depth, "knob": spec.knob,
            "params": count_params(model), "dataset": chosen, "correct": result["correct"], "total": result["total"],
            "accuracy": _rounded(result["accuracy"], 4), "loss": _rounded(result["loss"], 6),
            "format": meta.get("format"), "kind": meta.get("kind"), "epoch": meta.get("epoch"),
            "epochs": meta.get("epochs"), "seed": meta.get("seed"),
            "normalization": {"mean": list(mean), "std": list(std), "source": norm.get("source")},
            "recipe": meta.get("recipe"),
            "seed_refs": [{"source": source, "accuracy": value} for source, value in refs],
            "seed_accuracy": refs[0][1] if refs else None, "spec": spec.to_dict(),
        }
        row["difference"] = _rounded(result["accuracy"] - row["seed_accuracy"], 4) if refs else None
        if meta.get("recorded_accuracy") is not None:
            row["recorded_accuracy"] = _rounded(meta["recorded_accuracy"], 4)
        if predictions:
            row["predictions"] = torch.cat(recorder.predictions).tolist()
        return row
