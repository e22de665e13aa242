"""Run configuration: dataclasses, YAML files (with ``extends``), command-line overrides, checks.

A config has four sections (model, data, optim, run). The model section is a ``ModelSpec`` (its
fields but ``num_classes``, which follows the data set), so there is one default architecture,
``models.DEFAULT_ARCH``, for ``train`` and ``params`` alike. YAML files (read by ``config_yaml.py``)
may ``extends: other.yaml``; command-line flags override file values; unknown keys and bad
values are refused with the valid choices named. ``load_config`` returns the complete, validated
config that a run saves as ``config.yaml`` and that ``--resume`` compares against. The choices of
every enumerated setting are ``enums.py``'s, checked here from one table (``choices``). Importing this
module does not import torch (``models``, ``kernels`` and ``data`` are imported where they are used),
so that ``shiftnet train --help`` can show these defaults and choices in a fraction of a second.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from .config_yaml import read_yaml
from .enums import AMP_MODES, BN_INITS, DATASET_CLASSES, DEVICES, NORMALIZATIONS, SCHEDULES, SHIFT_IMPLS
from .errors import UsageError, short_repr
from .runtime import is_device_name

if TYPE_CHECKING:
    from .models import ModelSpec


def _model_spec_class():
    from .models import ModelSpec  # imports torch: only when a config is built

    return ModelSpec


def model_keys() -> tuple[str, ...]:
    """The model section's keys: ModelSpec's fields but the head, which follows data.dataset."""
    return tuple(f.name for f in dataclasses.fields(_model_spec_class()) if f.name != "num_classes")


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
    milestones: list[int] = field(default_factory=lambda: [82, 123])  # lr x gamma from these 0-based epochs on
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
    shift_impl: str = "auto"  # one of SHIFT_IMPLS: auto (exact), torch, cupy, or conv (fast on CPU with channels_last)
    name: str | None = None
    out: str | None = None
    log_every: int = 50  # optimizer steps between TensorBoard / W&B points (engine/scalars.py)
    wandb: bool = False  # log to Weights & Biases (the wandb extra; WANDB_MODE=offline logs locally)


@dataclass
class Config:
    model: ModelSpec = field(default_factory=lambda: _model_spec_class()())  # num_classes: the data set's
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def to_dict(self) -> dict:
        """The config as config.yaml holds it (the model section without num_classes)."""
        data = dataclasses.asdict(self)
        data["model"] = {key: data["model"][key] for key in model_keys()}
        return data

    @property
    def num_classes(self) -> int:
        return DATASET_CLASSES[self.data.dataset]

    def model_spec(self) -> ModelSpec:
        """The validated spec to build: the model section with the data set's head."""
        return dataclasses.replace(self.model, num_classes=self.num_classes).validated()

    def run_name(self) -> str:
        if self.run.name:
            return self.run.name
        return f"{self.model_spec().name}_{self.data.dataset}_s{self.run.seed}"


def sections() -> dict[str, type]:
    """Each config section's dataclass (the model section's is ModelSpec)."""
    return {"model": _model_spec_class(), "data": DataConfig, "optim": OptimConfig, "run": RunConfig}


def section_keys(name: str) -> list[str]:
    """The keys a config file may give in section ``name``, sorted."""
    cls = sections()[name]
    return sorted(model_keys() if name == "model" else (f.name for f in dataclasses.fields(cls)))


def key_types(name: str) -> dict[str, Any]:
    """Section ``name``'s keys and their declared types (``int``, ``float | None``, ``list[int]``...)."""
    hints = typing.get_type_hints(sections()[name])
    return {key: hints[key] for key in section_keys(name)}


def check_known(given, valid, what: str, **options) -> None:
    from .models.spec import check_known_keys  # the one unknown-key check and its message

    check_known_keys(given, valid, what, error=UsageError, **options)


def from_dict(data: dict) -> Config:
    check_known(data, sections(), "config section(s)")
    built = {}
    for name, cls in sections().items():
        values = data.get(name) or {}
        if not isinstance(values, dict):
            raise UsageError(f"config section {name!r} must be a mapping")
        check_known(values, section_keys(name), "key(s)", prefix=f"{name}.", valid_label=f"valid {name} keys")
        built[name] = cls(**values)
    return validate(Config(**built))


def load_config(path: str | Path | None, overrides: dict[str, Any] | None = None) -> Config:
    """Defaults <- YAML file (and what it extends) <- overrides {"section.key": value}.

    A None override sets the key to None, as ``--set run.limit_batches=none`` asks: skipping it would
    silently keep the file's (or a resumed run's) value. A key that does not take None is then refused
    by ``validate``; a caller that means "not given" leaves the key out."""
    data = read_yaml(Path(path)) if path is not None else {}
    for dotted, value in (overrides or {}).items():
        section, key = dotted.split(".", 1)
        if not isinstance(data.get(section), dict):
            data[section] = {}
        data[section][key] = value
    return from_dict(data)


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise UsageError(message)


# Bounds that a real run never reaches, so that a typo (or 1e300) is refused before it overflows.
INT_RULES = {  # key: (smallest, largest)
    "data.batch_size": (1, 1 << 20), "data.eval_batch_size": (1, 1 << 20), "optim.epochs": (1, 100_000),
    "run.seed": (0, 2**63 - 1), "run.limit_batches": (1, 1 << 31), "run.log_every": (1, 1 << 31),
}
FLOAT_RULES = {  # key: (test, the range in words)
    "optim.lr": (lambda v: 0 < v <= 100, "in (0, 100]"), "optim.momentum": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "optim.weight_decay": (lambda v: 0 <= v <= 1, "in [0, 1]"), "optim.gamma": (lambda v: 0 < v <= 1, "in (0, 1]"),
}
BOOL_KEYS = ("optim.nesterov", "optim.reset_momentum_each_epoch", "run.channels_last", "run.compile",
             "run.deterministic", "run.sync_bn", "run.select_on_test", "run.wandb")
STRING_KEYS = ("model.arch", "model.reduction_mode", "model.shortcut_rule", "data.dataset", "data.normalization",
               "optim.schedule", "run.device", "run.amp", "run.bn_weight_init", "run.shift_impl")
OPTIONAL_STRING_KEYS = ("data.data_dir", "run.name", "run.out")


def choices() -> dict[str, tuple[tuple[str, ...], str]]:
    """Each enumerated key: (its choices, a note for the message)."""
    return {"data.normalization": (NORMALIZATIONS, " (true: each data set's own statistics)"),
            "optim.schedule": (SCHEDULES, ""), "run.amp": (AMP_MODES, ""), "run.shift_impl": (SHIFT_IMPLS, ""),
            "run.bn_weight_init": (BN_INITS, "")}


def _get(config: Config, key: str):
    section, name = key.split(".")
    return getattr(getattr(config, section), name)


def _got(value) -> str:
    """How a refused value is shown: YAML booleans by name, since ``true`` looks like a number to no one."""
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    return short_repr(value)


def _finite_number(value) -> bool:
    """int or finite float, not bool (an int of any size is finite; math.isfinite would overflow)."""
    return not isinstance(value, bool) and (isinstance(value, int) or isinstance(value, float) and math.isfinite(value))


def _validate_types(config: Config) -> None:
    """Type and range of every scalar: booleans are not numbers, numbers are finite and bounded."""
    get = functools.partial(_get, config)
    for key, (low, high) in INT_RULES.items():
        value = get(key)
        if value is None and key == "run.limit_batches":
            continue
        _check(isinstance(value, int) and not isinstance(value, bool) and low <= value <= high,
               f"{key.split('.')[1]} must be an integer from {low} to {high}, got {_got(value)}")
    for key, (test, words) in FLOAT_RULES.items():
        value = get(key)
        _check(_finite_number(value) and test(value),
               f"{key.split('.')[1]} must be a finite number {words}, got {_got(value)}")
    for key in BOOL_KEYS:
        _check(isinstance(get(key), bool), f"{key.split('.')[1]} must be true or false, got {_got(get(key))}")
    for key in STRING_KEYS + OPTIONAL_STRING_KEYS:
        value = get(key)
        _check(isinstance(value, str) or (value is None and key in OPTIONAL_STRING_KEYS),
               f"{key.split('.')[1]} must be a string, got {_got(value)}")
    milestones = config.optim.milestones
    _check(isinstance(milestones, list) and len(milestones) <= 1000
           and all(isinstance(m, int) and not isinstance(m, bool) and 0 < m <= 100_000 for m in milestones),
           f"milestones must be a list of epoch numbers from 1 to 100000, got {_got(milestones)}")


def validate(config: Config) -> Config:
    d, r = config.data, config.run
    if isinstance(d.normalization, bool):  # YAML reads the README's `normalization: true` as a boolean
        d.normalization = "true" if d.normalization else "seed"
    _validate_types(config)
    _check(d.dataset in DATASET_CLASSES,
           f"unknown dataset {short_repr(d.dataset)}; choose one of {', '.join(DATASET_CLASSES)}")
    for key, (valid, note) in choices().items():
        value = _get(config, key)
        _check(value in valid, f"{key[key.index('.') + 1:]} must be one of {', '.join(valid)}{note}, "
                               f"got {short_repr(value)}")
    _check(not (config.optim.nesterov and config.optim.momentum == 0),  # torch's SGD refuses it once a run starts
           "optim.nesterov (--nesterov) needs momentum: optim.momentum (--momentum) is 0; give a momentum "
           "in (0, 1) or drop --nesterov")
    _check(is_device_name(r.device),
           f"device must be {', '.join(DEVICES)} or cuda:<index> (e.g. cuda:0), got {short_repr(r.device)}")
    try:
        config.model_spec()
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    config.model = dataclasses.replace(config.model, num_classes=config.num_classes)
    return config


def lr_at(optim: OptimConfig, epoch: int) -> float:
    """Learning rate of 0-based ``epoch``: step decay by gamma at each milestone, or cosine to 0."""
    if optim.schedule == "cosine":
        return optim.lr * 0.5 * (1 + math.cos(math.pi * epoch / optim.epochs))
    return optim.lr * optim.gamma ** sum(epoch >= m for m in optim.milestones)


def dump_yaml(config: Config) -> str:
    return yaml.safe_dump(config.to_dict(), sort_keys=False)
