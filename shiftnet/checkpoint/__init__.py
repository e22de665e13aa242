"""Checkpoints, each format's schema in one place, both ways: ``run_state`` (``last.pt``, to resume
exactly), ``weights`` (released ``.safetensors``), ``metadata`` (what both record for evaluation),
``legacy_t7`` and ``t7_pickle`` (the original's ``.t7`` files, read without running them),
``pretrained`` (the registry and download of published archives) and ``reading`` (any of them, as a
state dict, spec and metadata). Unpickling under an allow-list is ``shiftnet.safe_pickle``, below
both this package and ``data``, which reads CIFAR's pickles with it.
"""

from .metadata import normalization_of, recipe_of, training_metadata
from .reading import dataset_of, load_checkpoint
from .run_state import METRIC_FIELDS, STATE_FORMAT, EpochStats, Progress, RunState
from .weights import WEIGHTS_FORMAT, load_weights, save_weights, unwrap

__all__ = ["METRIC_FIELDS", "STATE_FORMAT", "WEIGHTS_FORMAT", "EpochStats", "Progress", "RunState", "dataset_of",
           "load_checkpoint", "load_weights", "normalization_of", "recipe_of", "save_weights", "training_metadata",
           "unwrap"]
