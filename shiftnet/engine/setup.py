"""What a run trains with, built once its settings are checked and before anything is written: the
model on its device (under DDP and torch.compile when asked), optimizer, AMP scaler and loaders.

The recipe switches that touch the model are applied here: BN weights from U(0, 1) as PyTorch <= 0.4
initialised them (``bn_weight_init: uniform``, docs/original.md#recipe), SyncBatchNorm (torch's on
CUDA, ``syncbn`` on CPU), channels_last. One image goes through the model before the run folder is
touched, so a shift implementation or layout the device cannot run fails first.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..checkpoint import normalization_of
from ..config import Config, OptimConfig
from ..data import CifarLoader, ensure_dataset, get_dataset, load_split
from ..data.datasets import default_data_dir
from ..errors import RunError
from ..models import ModelSpec, create_model
from . import compiling, distributed, syncbn
from .distributed import DistInfo
from .evaluate import autocast


@dataclass
class Parts:
    spec: ModelSpec
    model: torch.nn.Module  # the plain model: saved, evaluated
    train_model: torch.nn.Module  # what a training step calls: the model under DDP and/or torch.compile
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler  # enabled for fp16 only


def seed_everything(seed: int, deterministic: bool) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    else:
        torch.backends.cudnn.benchmark = True


def new_optimizer(model: torch.nn.Module, optim: OptimConfig) -> torch.optim.Optimizer:
    return torch.optim.SGD(model.parameters(), lr=optim.lr, momentum=optim.momentum, weight_decay=optim.weight_decay,
                           nesterov=optim.nesterov)


def build(config: Config, device: torch.device, dist: DistInfo, out_dir: Path, say: Callable[[str], None]) -> Parts:
    """Seed, build and place the model as the config says; its optimizer and scaler."""
    run = config.run
    seed_everything(run.seed, run.deterministic)
    spec = config.model_spec()
    model = create_model(spec, shift_impl=None if run.shift_impl == "auto" else run.shift_impl)
    if run.bn_weight_init == "uniform":
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                torch.nn.init.uniform_(module.weight, 0.0, 1.0)
    if run.sync_bn and dist.enabled:
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model) if device.type == "cuda" else syncbn.convert(model)
    model = model.to(device)
    if run.channels_last:
        model = model.to(memory_format=torch.channels_last)
    train_model = model
    if dist.enabled:
        device_ids = [device.index] if device.type == "cuda" else None
        train_model = torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids)
    if run.compile:
        train_model = compiling.CompiledWithFallback(train_model, say, compiling.use_run_cache(out_dir))
    scaler = torch.amp.GradScaler("cuda", enabled=run.amp == "fp16")
    try_model(model, spec, config, device)
    return Parts(spec, model, train_model, new_optimizer(model, config.optim), scaler)


def try_model(model: torch.nn.Module, spec: ModelSpec, config: Config, device: torch.device) -> None:
    """One image through the model, in eval mode (no state changes); a one-line RunError if it fails."""
    image = torch.zeros(1, 3, 32, 32, device=device)
    if config.run.channels_last:
        image = image.contiguous(memory_format=torch.channels_last)
    try:
        with torch.no_grad(), autocast(device, config.run.amp):
            model.eval()
            model(image)
    except (RuntimeError, ValueError) as exc:
        message = " ".join(str(exc).split())[:300]
        run = config.run
        raise RunError(f"{spec.name} cannot run on {device} with --shift-impl {run.shift_impl} and "
                       f"--amp {run.amp}: {message}") from None
    finally:
        model.train()


def loaders(config: Config, device: torch.device, dist: DistInfo) -> tuple[CifarLoader, CifarLoader]:
    """The training loader (this rank's share of each global batch) and the test loader; rank 0 makes
    sure the data set is there first."""
    info = get_dataset(config.data.dataset)
    data_dir = default_data_dir(config.data.data_dir)
    if dist.is_main:
        ensure_dataset(info.name, data_dir, "train")
        ensure_dataset(info.name, data_dir, "test")
    distributed.barrier(dist)
    norm = normalization_of(config.data.normalization, info.name)
    common = dict(mean=tuple(norm["mean"]), std=tuple(norm["std"]), device=device, seed=config.run.seed,
                  rank=dist.rank, world_size=dist.world_size, channels_last=config.run.channels_last)
    train_images, train_labels = load_split(data_dir, info.name, train=True)
    test_images, test_labels = load_split(data_dir, info.name, train=False)
    per_rank = config.data.batch_size // dist.world_size
    return (CifarLoader(train_images, train_labels, per_rank, train=True, **common),
            CifarLoader(test_images, test_labels, config.data.eval_batch_size, train=False, **common))
