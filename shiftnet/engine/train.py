"""The training loop: the seed's recipe, resumable bit for bit, with honest reporting.

Exact resume rests on two facts: every random choice of an epoch (order, crops, flips) is a pure
function of (seed, epoch) (see ``data.loader``), and ``last.pt`` holds the model, optimizer, AMP
scaler, the position inside the epoch and the running sums of that epoch. It is written at the end
of every epoch and on Ctrl-C (mid-epoch); a run killed any other way resumes from the last epoch
end and replays the same batches. A NaN/inf loss stops the run without overwriting ``last.pt``.

Reporting: every epoch's test accuracy is logged; the run reports the final epoch's accuracy and,
labelled as selected on the test set, the best. ``select_on_test`` (seed-faithful) makes the best
the headline number, as the seed did; it never happens silently.
"""

from __future__ import annotations

import csv
import io
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..checkpoint import load_run_state, save_run_state, save_weights, training_metadata, unwrap
from ..config import Config, dump_yaml, lr_at
from ..data import CifarLoader, ensure_dataset, get_dataset, load_split
from ..data.datasets import SEED_MEAN, SEED_STD, default_data_dir
from ..errors import Interrupted, RunError, UsageError
from ..fileio import atomic_write_text
from ..models import create_model, set_shift_impl
from ..runtime import resolve_device, tune_allocator
from . import distributed, syncbn
from .evaluate import autocast, evaluate

STATE_FORMAT = "shiftnet-run-1"
METRIC_FIELDS = ["epoch", "lr", "train_loss", "train_acc", "test_loss", "test_acc", "seconds", "images_per_s"]
# config keys that may differ on --resume (they do not change what is computed, or only its speed)
RESUMABLE_CHANGES = {("run", "device"), ("run", "compile"), ("run", "name"), ("run", "out"), ("data", "data_dir"),
                     ("data", "eval_batch_size"), ("run", "shift_impl")}
NAN_CHECK_EVERY = 25


class Reporter:
    """What the loop tells the outside world; the CLI supplies a Rich one. Defaults print lines."""

    def message(self, text: str) -> None:
        print(text, flush=True)

    def epoch_start(self, epoch: int, epochs: int, batches: int, done: int) -> None:
        pass

    def batch(self, done: int, loss: float, accuracy: float, images_per_s: float) -> None:
        """Every few batches: batches done in this epoch, running loss and accuracy, throughput."""

    def epoch_end(self, row: dict, epochs: int) -> None:
        print(format_epoch(row, epochs), flush=True)


class _Silent(Reporter):
    def message(self, text: str) -> None:
        pass

    def epoch_end(self, row: dict, epochs: int) -> None:
        pass


def format_epoch(row: dict, epochs: int) -> str:
    return (f"epoch {row['epoch'] + 1}/{epochs}  lr {row['lr']:.4g}  train loss {row['train_loss']:.4f} acc {row['train_acc']:.2f}%  "
            f"test loss {row['test_loss']:.4f} acc {row['test_acc']:.2f}%  {row['seconds']:.1f}s  {row['images_per_s']:.0f} img/s")


@dataclass
class RunState:
    epoch: int = 0  # epoch in progress (or next to start)
    batch: int = 0  # next batch of that epoch
    step: int = 0
    sums: list = field(default_factory=lambda: [0.0, 0, 0, 0.0])  # loss sum, correct, seen, seconds
    best_acc: float = -1.0
    best_epoch: int = -1
    history: list = field(default_factory=list)


def _seed_everything(seed: int, deterministic: bool) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        import os

        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    else:
        torch.backends.cudnn.benchmark = True


def _config_differences(saved: dict, current: dict) -> list[str]:
    diffs = []
    for section, values in current.items():
        for key, value in values.items():
            if (section, key) in RESUMABLE_CHANGES:
                continue
            old = saved.get(section, {}).get(key)
            if old != value:
                diffs.append(f"{section}.{key}: {old!r} -> {value!r}")
    return diffs


class Trainer:
    """One training run in ``out_dir``; ``run()`` trains to the configured epoch count."""

    def __init__(self, config: Config, out_dir: Path, resume: bool = False, reporter: Reporter | None = None,
                 on_step: Callable[[int, int, int], None] | None = None):
        self.config = config
        self.out_dir = Path(out_dir)
        self.resume = resume
        self.reporter = reporter or Reporter()
        self.on_step = on_step  # test hook: called with (epoch, batch, step) after each optimizer step
        self.device = resolve_device(config.run.device)
        if config.run.amp == "fp16" and self.device.type != "cuda":
            raise UsageError("--amp fp16 needs a CUDA device (it uses a GradScaler); use --amp bf16 on CPU")
        self.dist = distributed.setup(self.device.type)
        if not self.dist.is_main:
            self.reporter = _Silent()  # rank 0 alone prints
        if self.dist.enabled and self.device.type == "cuda":
            self.device = torch.device("cuda", self.dist.local_rank)
        if config.data.batch_size % self.dist.world_size:
            raise UsageError(f"--batch-size {config.data.batch_size} is the global batch and must divide by the "
                             f"{self.dist.world_size} processes")

    # ------------------------------------------------------------------ setup
    def _prepare_folder(self) -> RunState:
        config_path, state_path = self.out_dir / "config.yaml", self.out_dir / "last.pt"
        current = self.config.to_dict()
        if self.resume:
            if not state_path.is_file():
                raise UsageError(f"--resume: no {state_path} to resume from; start the run without --resume")
            saved = load_run_state(state_path)
            if saved.get("format") != STATE_FORMAT:
                raise UsageError(f"{state_path} is not a shiftnet run state")
            diffs = _config_differences(saved["config"], current)
            if diffs:
                raise UsageError(f"--resume with a different config ({'; '.join(diffs)}); rerun with the saved settings "
                                 f"(see {config_path}) or start a new run with another --name")
            self._saved = saved
            return RunState(saved["epoch"], saved["batch"], saved["step"], list(saved["sums"]), saved["best_acc"],
                            saved["best_epoch"], list(saved["history"]))
        if config_path.exists() or state_path.exists():
            raise UsageError(f"{self.out_dir} already holds a run; continue it with --resume, or choose another --name / --out")
        self._saved = None
        return RunState()

    def _build(self):
        cfg = self.config
        _seed_everything(cfg.run.seed, cfg.run.deterministic)
        spec = cfg.model_spec()
        model = set_shift_impl(create_model(spec), None if cfg.run.shift_impl == "auto" else cfg.run.shift_impl)
        if cfg.run.bn_weight_init == "uniform":  # PyTorch <= 0.4 initialised BN gamma ~ U(0, 1)
            for module in model.modules():
                if isinstance(module, torch.nn.BatchNorm2d):
                    torch.nn.init.uniform_(module.weight, 0.0, 1.0)
        if cfg.run.sync_bn and self.dist.enabled:
            if self.device.type == "cuda":
                model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
            else:  # torch's SyncBatchNorm is CUDA-only
                model = syncbn.convert(model)
        model = model.to(self.device)
        if cfg.run.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.spec = spec
        self.model = model
        self.train_model = model
        if self.dist.enabled:
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            self.train_model = torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids)
        if cfg.run.compile:
            self.train_model = torch.compile(self.train_model)
        self.scaler = torch.amp.GradScaler("cuda", enabled=cfg.run.amp == "fp16")
        self.optimizer = self._new_optimizer()

    def _new_optimizer(self) -> torch.optim.Optimizer:
        o = self.config.optim
        return torch.optim.SGD(self.model.parameters(), lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay,
                               nesterov=o.nesterov)

    def _data(self):
        cfg = self.config
        info = get_dataset(cfg.data.dataset)
        data_dir = default_data_dir(cfg.data.data_dir)
        if self.dist.is_main:
            ensure_dataset(info.name, data_dir, "train")
            ensure_dataset(info.name, data_dir, "test")
        distributed.barrier(self.dist)
        mean, std = (SEED_MEAN, SEED_STD) if cfg.data.normalization == "seed" else (info.true_mean, info.true_std)
        per_rank = cfg.data.batch_size // self.dist.world_size
        common = dict(mean=mean, std=std, device=self.device, seed=cfg.run.seed, rank=self.dist.rank,
                      world_size=self.dist.world_size, channels_last=cfg.run.channels_last)
        train_images, train_labels = load_split(data_dir, info.name, train=True)
        test_images, test_labels = load_split(data_dir, info.name, train=False)
        self.train_loader = CifarLoader(train_images, train_labels, per_rank, train=True, **common)
        self.test_loader = CifarLoader(test_images, test_labels, cfg.data.eval_batch_size, train=False, **common)

    def _restore(self, state: RunState) -> None:
        saved = self._saved
        if saved is None:
            return
        self.model.load_state_dict(saved["model"])
        if saved["optimizer"]:
            self.optimizer.load_state_dict(saved["optimizer"])
        if saved.get("scaler"):
            self.scaler.load_state_dict(saved["scaler"])
        torch.set_rng_state(saved["rng"]["torch"])
        if self.device.type == "cuda" and saved["rng"].get("cuda"):
            torch.cuda.set_rng_state(saved["rng"]["cuda"], self.device)
        self.reporter.message(f"resumed {self.out_dir} at epoch {state.epoch + 1}, batch {state.batch}")

    # ------------------------------------------------------------------ files
    def _state_dict(self, state: RunState) -> dict:
        rng = {"torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return {
            "format": STATE_FORMAT, "config": self.config.to_dict(), "model": unwrap(self.model).state_dict(),
            "optimizer": self.optimizer.state_dict(), "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else {},
            "epoch": state.epoch, "batch": state.batch, "step": state.step, "sums": list(state.sums),
            "best_acc": state.best_acc, "best_epoch": state.best_epoch, "history": list(state.history), "rng": rng,
            "meta": training_metadata(self.config.to_dict()),
        }

    def _save_state(self, state: RunState) -> None:
        if self.dist.is_main:
            save_run_state(self.out_dir / "last.pt", self._state_dict(state))

    def _write_metrics(self, history: list[dict]) -> None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=METRIC_FIELDS, lineterminator="\n")
        writer.writeheader()
        for row in history:
            writer.writerow({k: (f"{row[k]:.6g}" if isinstance(row[k], float) else row[k]) for k in METRIC_FIELDS})
        atomic_write_text(self.out_dir / "metrics.csv", buffer.getvalue())

    def _weights_metadata(self, row: dict, kind: str) -> dict:
        return {**training_metadata(self.config.to_dict()), "epoch": row["epoch"], "test_accuracy": row["test_acc"],
                "kind": kind}

    # ------------------------------------------------------------------ loop
    def run(self) -> dict:
        tune_allocator()
        state = self._prepare_folder()
        distributed.barrier(self.dist)  # every rank checks the folder before rank 0 writes to it
        if self.dist.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.out_dir / "config.yaml", dump_yaml(self.config))
        self._build()
        self._data()
        self._restore(state)
        writer = self._tensorboard()
        try:
            while state.epoch < self.config.optim.epochs:
                row = self._train_epoch(state)
                if writer is not None:
                    for key in ("lr", "train_loss", "train_acc", "test_loss", "test_acc", "images_per_s"):
                        writer.add_scalar(key, row[key], row["epoch"])
        finally:
            if writer is not None:
                writer.close()
            distributed.cleanup(self.dist)
        return self._summary(state)

    def _tensorboard(self):
        if not self.dist.is_main:
            return None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            return None
        return SummaryWriter(str(self.out_dir / "tensorboard"))

    def _train_epoch(self, state: RunState) -> dict:
        cfg = self.config
        epoch = state.epoch
        lr = lr_at(cfg.optim, epoch)
        if state.batch == 0:
            if cfg.optim.reset_momentum_each_epoch:  # the seed rebuilt SGD every epoch: momentum starts from zero
                self.optimizer = self._new_optimizer()
            state.sums = [0.0, 0, 0, 0.0]
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.train_loader.set_epoch(epoch)
        total_batches = len(self.train_loader)
        if cfg.run.limit_batches is not None:
            total_batches = min(total_batches, cfg.run.limit_batches)
        self.reporter.epoch_start(epoch, cfg.optim.epochs, total_batches, state.batch)
        self.train_model.train()
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        correct = torch.zeros((), dtype=torch.int64, device=self.device)
        seen = 0
        started = time.perf_counter()
        batch_index = state.batch
        try:
            for inputs, labels in self.train_loader.batches(start=state.batch):
                if batch_index >= total_batches:
                    break
                with autocast(self.device, cfg.run.amp):
                    logits = self.train_model(inputs)
                    loss = F.cross_entropy(logits.float(), labels)
                self.optimizer.zero_grad(set_to_none=True)
                self.scaler.scale(loss).backward()
                self.scaler.step(self.optimizer)
                self.scaler.update()
                loss_sum += loss.detach().double() * labels.numel()
                correct += (logits.detach().argmax(1) == labels).sum()
                seen += labels.numel()
                batch_index += 1
                state.step += 1
                if batch_index % NAN_CHECK_EVERY == 0 or batch_index == total_batches:
                    self._check_finite(loss_sum, epoch, batch_index)
                    elapsed = time.perf_counter() - started
                    self.reporter.batch(batch_index, (state.sums[0] + loss_sum.item()) / max(1, state.sums[2] + seen),
                                        100.0 * (state.sums[1] + int(correct)) / max(1, state.sums[2] + seen),
                                        seen / max(elapsed, 1e-9) * self.dist.world_size)
                if self.on_step is not None:
                    self.on_step(epoch, batch_index, state.step)
        except KeyboardInterrupt:
            self._check_finite(loss_sum, epoch, batch_index)
            state.batch = batch_index
            state.sums = self._merged_sums(state.sums, loss_sum, correct, seen, time.perf_counter() - started)
            self._save_state(state)
            raise Interrupted(f"interrupted at epoch {epoch + 1}, batch {batch_index}: saved {self.out_dir / 'last.pt'}; "
                           f"continue with the same command plus --resume") from None
        self._check_finite(loss_sum, epoch, batch_index)
        sums = self._merged_sums(state.sums, loss_sum, correct, seen, time.perf_counter() - started)
        sums = distributed.all_reduce_sum(self.dist, torch.tensor(sums[:3], dtype=torch.float64, device=self.device)).tolist() + [sums[3]]
        test = evaluate(unwrap(self.model), self.test_loader, self.device, cfg.run.amp, cfg.run.limit_batches, self.dist)
        seconds = sums[3]
        row = {"epoch": epoch, "lr": lr, "train_loss": sums[0] / max(sums[2], 1), "train_acc": 100.0 * sums[1] / max(sums[2], 1),
               "test_loss": test["loss"], "test_acc": test["accuracy"], "seconds": seconds,
               "images_per_s": sums[2] / max(seconds, 1e-9)}
        state.history.append(row)
        state.epoch, state.batch, state.sums = epoch + 1, 0, [0.0, 0, 0, 0.0]
        if self.dist.is_main:
            if row["test_acc"] > state.best_acc:
                state.best_acc, state.best_epoch = row["test_acc"], epoch
                save_weights(self.out_dir / "best.safetensors", self.model, self.spec, **self._weights_metadata(row, "best-on-test"))
            if state.epoch == cfg.optim.epochs:
                save_weights(self.out_dir / "final.safetensors", self.model, self.spec, **self._weights_metadata(row, "final"))
            self._write_metrics(state.history)
        self._save_state(state)
        self.reporter.epoch_end(row, cfg.optim.epochs)
        return row

    @staticmethod
    def _merged_sums(previous: list, loss_sum: torch.Tensor, correct: torch.Tensor, seen: int, seconds: float) -> list:
        return [previous[0] + loss_sum.item(), previous[1] + int(correct), previous[2] + seen, previous[3] + seconds]

    def _check_finite(self, loss_sum: torch.Tensor, epoch: int, batch: int) -> None:
        if not math.isfinite(loss_sum.item()):
            raise RunError(f"the training loss became {loss_sum.item()} in epoch {epoch + 1} by batch {batch}; stopped "
                           f"without saving it. {self.out_dir / 'last.pt'} keeps the last good epoch. Try a lower --lr "
                           f"or --amp off")

    def _summary(self, state: RunState) -> dict:
        final = state.history[-1] if state.history else None
        summary = {"out_dir": str(self.out_dir), "epochs": state.epoch, "final_acc": final["test_acc"] if final else None,
                   "best_acc": state.best_acc if state.best_epoch >= 0 else None, "best_epoch": state.best_epoch,
                   "select_on_test": self.config.run.select_on_test}
        summary["headline_acc"] = summary["best_acc"] if self.config.run.select_on_test else summary["final_acc"]
        return summary

