"""Run configuration: dataclasses, YAML files (with ``extends``), command-line overrides, checks.

A config has four sections (model, data, optim, run). YAML files may ``extends: other.yaml``
(resolved relative to the file); command-line flags override file values; unknown keys and bad
values are refused with the valid choices named. ``resolved()`` returns the complete, validated
config that a run saves as ``config.yaml`` and that ``--resume`` compares against.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .data.datasets import DATASETS
from .errors import UsageError
from .kernels import IMPLS
from .models import ModelSpec

AMP_MODES = ("off", "bf16", "fp16")
SCHEDULES = ("step", "cosine")
NORMALIZATIONS = ("seed", "true")
BN_INITS = ("ones", "uniform")


@dataclass
class ModelConfig:
    """ModelSpec's fields but num_classes (which follows the data set); arch defaults to shiftresnet
    so that ``shiftnet train --depth 110 --expansion 6`` needs nothing else. A test keeps the two in step."""

    arch: str = "shiftresnet"
    depth: int = 20
    expansion: float | None = None
    reduction: float | None = None
    reduction_mode: str = "block"
    shortcut_rule: str = "current"


@dataclass
class DataConfig:
    dataset: str = "cifar10"
    data_dir: str | None = None
    batch_size: int = 128
    eval_batch_size: int = 1000
    normalization: str = "seed"  # seed: the CIFAR-10 figures the seed used for both data sets; true: per-data-set


@dataclass
class OptimConfig:
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    nesterov: bool = False
    epochs: int = 164
    schedule: str = "step"
    milestones: list = field(default_factory=lambda: [82, 123])  # lr x gamma from these 0-based epochs on
    gamma: float = 0.1
    reset_momentum_each_epoch: bool = False  # the seed rebuilt its optimizer every epoch


@dataclass
class RunConfig:
    seed: int = 0
    device: str = "auto"
    amp: str = "off"
    channels_last: bool = False
    compile: bool = False
    deterministic: bool = False
    sync_bn: bool = False
    limit_batches: int | None = None
    select_on_test: bool = False  # the seed kept (and reported) the best-test-accuracy epoch
    bn_weight_init: str = "ones"  # "uniform": PyTorch <= 0.4's BN gamma ~ U(0, 1), as the seed trained
    shift_impl: str = "auto"  # auto (exact: CuPy on CUDA, PyTorch on CPU), torch, cupy, or conv (fast CPU channels_last)
    name: str | None = None
    out: str | None = None


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @property
    def num_classes(self) -> int:
        return DATASETS[self.data.dataset].num_classes

    def model_spec(self) -> ModelSpec:
        return ModelSpec(**dataclasses.asdict(self.model), num_classes=self.num_classes).validated()

    def run_name(self) -> str:
        if self.run.name:
            return self.run.name
        return f"{self.model_spec().name}_{self.data.dataset}_s{self.run.seed}"


SECTIONS = {"model": ModelConfig, "data": DataConfig, "optim": OptimConfig, "run": RunConfig}


def _merge(base: dict, update: dict) -> dict:
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def read_yaml(path: Path, _seen: tuple = ()) -> dict:
    """A config file as a nested dict, ``extends`` chains merged (child values win)."""
    path = Path(path)
    if path in _seen:
        raise UsageError(f"config {path} extends itself (cycle: {' -> '.join(map(str, _seen + (path,)))})")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise UsageError(f"config file {path} not found") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"config file {path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise UsageError(f"config file {path} must be a mapping of sections (model, data, optim, run)")
    parent = data.pop("extends", None)
    if parent is not None:
        data = _merge(read_yaml(path.parent / parent, _seen + (path,)), data)
    return data


def from_dict(data: dict) -> Config:
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise UsageError(f"unknown config section(s) {', '.join(unknown)}; valid: {', '.join(SECTIONS)}")
    sections = {}
    for name, cls in SECTIONS.items():
        values = data.get(name) or {}
        if not isinstance(values, dict):
            raise UsageError(f"config section {name!r} must be a mapping")
        valid = {f.name for f in dataclasses.fields(cls)}
        bad = sorted(set(values) - valid)
        if bad:
            raise UsageError(f"unknown key(s) {', '.join(f'{name}.{b}' for b in bad)}; valid {name} keys: {', '.join(sorted(valid))}")
        sections[name] = cls(**values)
    return validate(Config(**sections))


def load_config(path: str | Path | None, overrides: dict[str, Any] | None = None) -> Config:
    """Defaults <- YAML file (and what it extends) <- overrides {"section.key": value} (None = unset)."""
    data = read_yaml(Path(path)) if path is not None else {}
    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        section, key = dotted.split(".", 1)
        data.setdefault(section, {})[key] = value
    return from_dict(data)


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise UsageError(message)


def validate(config: Config) -> Config:
    d, o, r = config.data, config.optim, config.run
    _check(d.dataset in DATASETS, f"unknown dataset {d.dataset!r}; choose one of {', '.join(DATASETS)}")
    _check(isinstance(d.batch_size, int) and d.batch_size >= 1, f"batch_size must be a positive integer, got {d.batch_size!r}")
    _check(isinstance(d.eval_batch_size, int) and d.eval_batch_size >= 1, f"eval_batch_size must be a positive integer, got {d.eval_batch_size!r}")
    _check(d.normalization in NORMALIZATIONS, f"normalization must be one of {', '.join(NORMALIZATIONS)}, got {d.normalization!r}")
    _check(isinstance(o.epochs, int) and o.epochs >= 1, f"epochs must be a positive integer, got {o.epochs!r}")
    _check(isinstance(o.lr, (int, float)) and math.isfinite(o.lr) and o.lr > 0, f"lr must be a positive number, got {o.lr!r}")
    _check(isinstance(o.momentum, (int, float)) and 0 <= o.momentum < 1, f"momentum must be in [0, 1), got {o.momentum!r}")
    _check(isinstance(o.weight_decay, (int, float)) and o.weight_decay >= 0, f"weight_decay must be >= 0, got {o.weight_decay!r}")
    _check(o.schedule in SCHEDULES, f"schedule must be one of {', '.join(SCHEDULES)}, got {o.schedule!r}")
    _check(isinstance(o.milestones, list) and all(isinstance(m, int) and m > 0 for m in o.milestones),
           f"milestones must be a list of positive epoch numbers, got {o.milestones!r}")
    _check(isinstance(o.gamma, (int, float)) and 0 < o.gamma <= 1, f"gamma must be in (0, 1], got {o.gamma!r}")
    _check(r.amp in AMP_MODES, f"amp must be one of {', '.join(AMP_MODES)}, got {r.amp!r}")
    _check(r.shift_impl in IMPLS, f"shift_impl must be one of {', '.join(IMPLS)}, got {r.shift_impl!r}")
    _check(r.bn_weight_init in BN_INITS, f"bn_weight_init must be one of {', '.join(BN_INITS)}, got {r.bn_weight_init!r}")
    _check(r.limit_batches is None or (isinstance(r.limit_batches, int) and r.limit_batches >= 1),
           f"limit_batches must be a positive integer, got {r.limit_batches!r}")
    _check(isinstance(r.seed, int) and r.seed >= 0, f"seed must be a non-negative integer, got {r.seed!r}")
    _check(r.device in ("auto", "cpu", "cuda") or str(r.device).startswith("cuda:"), f"device must be auto, cpu, cuda or cuda:N, got {r.device!r}")
    try:
        config.model_spec()
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return config


def lr_at(optim: OptimConfig, epoch: int) -> float:
    """Learning rate of 0-based ``epoch``: step decay by gamma at each milestone, or cosine to 0."""
    if optim.schedule == "cosine":
        return optim.lr * 0.5 * (1 + math.cos(math.pi * epoch / optim.epochs))
    return optim.lr * optim.gamma ** sum(epoch >= m for m in optim.milestones)


def dump_yaml(config: Config) -> str:
    return yaml.safe_dump(config.to_dict(), sort_keys=False)
