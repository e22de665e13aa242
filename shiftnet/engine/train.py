"""The training loop: the seed's recipe, resumable bit for bit, with honest reporting.

Exact resume rests on two facts: every random choice of an epoch (order, crops, flips) is a pure
function of (seed, epoch) (see ``data.loader``), and ``last.pt`` holds the model, optimizer, AMP
scaler, the position inside the epoch and the running sums of that epoch. It is written at the end
of every epoch (before the epoch's other files, which a resume at an epoch end writes again) and on
Ctrl-C or SIGTERM, which the loop honours between steps only (``interrupts``): a state is never saved
from inside a forward pass. A run killed any other way resumes from the last save and replays the
same batches. A NaN/inf loss stops the run without overwriting ``last.pt``.

Nothing is written before everything that can be checked is checked (folder, device, model, data),
so a failure before the first epoch ends leaves at most ``config.yaml``, and such a folder is
reused; one process at a time writes a run folder (``runfolder``).

Reporting: every epoch's test accuracy is logged; the run reports the final epoch's accuracy and,
labelled as selected on the test set, the best. ``select_on_test`` (seed-faithful) makes the best
the headline number, as the seed did; it never happens silently.
"""

from __future__ import annotations

import contextlib
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
from ..models import create_model
from ..runtime import resolve_device, tune_allocator
from . import compiling, distributed, runfolder, syncbn
from .evaluate import autocast, evaluate
from .interrupts import StopRequests
from .runfolder import STATE_FORMAT

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
        if config.run.shift_impl == "cupy" and self.device.type != "cuda":
            raise UsageError(f"--shift-impl cupy needs a CUDA device, not {self.device}; use auto, torch or conv")
        self.dist = distributed.setup(self.device.type)
        if not self.dist.is_main:
            self.reporter = _Silent()  # rank 0 alone prints
        if self.dist.enabled and self.device.type == "cuda":
            self.device = torch.device("cuda", self.dist.local_rank)
        if config.data.batch_size % self.dist.world_size:
            raise UsageError(f"--batch-size {config.data.batch_size} is the global batch and must divide by the "
                             f"{self.dist.world_size} processes")
        self._lock = runfolder.RunLock(self.out_dir)
        self.stop = StopRequests(escalate=not self.dist.enabled)

    # ------------------------------------------------------------------ setup
    def _load_saved(self) -> dict:
        path = self.out_dir / "last.pt"
        saved = runfolder.check_run_state(load_run_state(path), path)
        diffs = runfolder.config_differences(saved["config"], self.config.to_dict())
        if diffs:
            raise UsageError(f"--resume with a different config ({'; '.join(diffs)}); rerun with the saved settings "
                             f"(see {self.out_dir / 'config.yaml'}) or start a new run with another --name")
        return saved

    def _claim_folder(self) -> None:
        """Rank 0 takes the folder's lock, checks it again (another run may have started meanwhile) and
        removes what a killed run left."""
        if not self.dist.is_main:
            return
        runfolder.create_folder(self.out_dir)
        self._lock.acquire()
        runfolder.check_folder(self.out_dir, self.resume, lock=False)
        if self._lock.stale_pid is not None:
            self.reporter.message(f"took over the lock of pid {self._lock.stale_pid}, which no longer runs")
        runfolder.remove_leftovers(self.out_dir)

    def _build(self):
        cfg = self.config
        _seed_everything(cfg.run.seed, cfg.run.deterministic)
        spec = cfg.model_spec()
        model = create_model(spec, shift_impl=None if cfg.run.shift_impl == "auto" else cfg.run.shift_impl)
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
            cache = compiling.use_run_cache(self.out_dir)
            self.train_model = compiling.CompiledWithFallback(self.train_model, self.reporter.message, cache)
        self.scaler = torch.amp.GradScaler("cuda", enabled=cfg.run.amp == "fp16")
        self.optimizer = self._new_optimizer()
        self._try_model()

    def _try_model(self) -> None:
        """One image through the model before anything is written: a shift implementation or layout
        the device cannot run fails here, not after the run folder exists. Eval mode: no state changes."""
        image = torch.zeros(1, 3, 32, 32, device=self.device)
        if self.config.run.channels_last:
            image = image.contiguous(memory_format=torch.channels_last)
        try:
            with torch.no_grad(), autocast(self.device, self.config.run.amp):
                self.model.eval()
                self.model(image)
        except (RuntimeError, ValueError) as exc:
            message = " ".join(str(exc).split())[:300]
            run = self.config.run
            raise RunError(f"{self.spec.name} cannot run on {self.device} with --shift-impl {run.shift_impl} and "
                           f"--amp {run.amp}: {message}") from None
        finally:
            self.model.train()

    def _new_optimizer(self) -> torch.optim.Optimizer:
        o = self.config.optim
        return torch.optim.SGD(self.model.parameters(), lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay,
                               nesterov=o.nesterov)

    def _data(self):
        cfg = self.config
        info = get_dataset(cfg.data.dataset)
        data_dir = default_data_dir(cfg.data.data_dir)
        if self.dist.is_main:
            runfolder.remove_dead_staging(data_dir)
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

    def _restore(self, saved: dict) -> RunState:
        path = self.out_dir / "last.pt"
        runfolder.check_weights_fit(saved["model"], self.model.state_dict(), self.spec.name, path)
        try:
            self.model.load_state_dict(saved["model"])
            if saved["optimizer"]:
                self.optimizer.load_state_dict(saved["optimizer"])
            if saved.get("scaler"):
                self.scaler.load_state_dict(saved["scaler"])
            torch.set_rng_state(saved["rng"]["torch"])
            if self.device.type == "cuda" and saved["rng"].get("cuda") is not None:
                torch.cuda.set_rng_state(saved["rng"]["cuda"], self.device)
        except (RuntimeError, ValueError, KeyError, TypeError, IndexError) as exc:
            message = " ".join(str(exc).split())[:200]
            raise UsageError(f"{path} does not fit this run ({type(exc).__name__}: {message}); it cannot be resumed: "
                             f"start a new run with another --out / --name") from None
        state = RunState(saved["epoch"], saved["batch"], saved["step"], list(saved["sums"]), saved["best_acc"],
                         saved["best_epoch"], list(saved["history"]))
        self.reporter.message(f"resumed {self.out_dir} at epoch {state.epoch + 1}, batch {state.batch}")
        return state

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

    def _weights_metadata(self, row: dict, kind: str) -> dict:
        return {**training_metadata(self.config.to_dict()), "epoch": row["epoch"], "test_accuracy": row["test_acc"],
                "kind": kind}

    def _write_outputs(self, state: RunState, row: dict) -> None:
        """The files of a finished epoch besides last.pt (rank 0): best and final weights, metrics.csv."""
        if not self.dist.is_main:
            return
        if state.best_epoch == row["epoch"]:
            metadata = self._weights_metadata(row, "best-on-test")
            save_weights(self.out_dir / "best.safetensors", self.model, self.spec, **metadata)
        if state.epoch == self.config.optim.epochs:
            save_weights(self.out_dir / "final.safetensors", self.model, self.spec, **self._weights_metadata(row, "final"))
        runfolder.write_metrics(self.out_dir, state.history)

    def _log_tensorboard(self, row: dict) -> None:
        """TensorBoard events when tensorboard is installed; the writer (and its folder) comes with the first epoch."""
        if self._writer is None and self.dist.is_main:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                self._writer = False
            else:
                self._writer = SummaryWriter(str(self.out_dir / "tensorboard"))
        if self._writer:
            for key in ("lr", "train_loss", "train_acc", "test_loss", "test_acc", "images_per_s"):
                self._writer.add_scalar(key, row[key], row["epoch"])

    # ------------------------------------------------------------------ loop
    def run(self) -> dict:
        tune_allocator()
        self._writer = None
        try:
            state = self._start()
            with self.stop:
                while state.epoch < self.config.optim.epochs:
                    self._train_epoch(state)
        except KeyboardInterrupt:  # during start-up, or a second Ctrl-C: this moment is not saved
            raise Interrupted(f"stopped ({self.stop.name}) without saving this moment; "
                              f"{self._how_to_continue()}") from None
        finally:
            if self._writer:
                self._writer.close()
            self._lock.release()
            distributed.cleanup(self.dist)
        return self._summary(state)

    def _start(self) -> RunState:
        """Check everything first (folder, model on the device, data), then claim the folder and write."""
        runfolder.check_folder(self.out_dir, self.resume, lock=self.dist.is_main)
        distributed.barrier(self.dist)  # every rank checks the folder before rank 0 writes to it
        saved = None
        if self.resume:
            self._claim_folder()
            saved = self._load_saved()
        self._build()
        self._data()
        if not self.resume:
            self._claim_folder()
        state = RunState() if saved is None else self._restore(saved)
        if self.dist.is_main:
            atomic_write_text(self.out_dir / "config.yaml", dump_yaml(self.config))
        if state.batch == 0 and state.history:  # a run that died between last.pt and the epoch's other files
            self._write_outputs(state, state.history[-1])
        return state

    def _how_to_continue(self) -> str:
        if (self.out_dir / "last.pt").is_file():
            return f"{self.out_dir / 'last.pt'} holds the last save: continue with the same command plus --resume"
        return "no epoch was saved: rerun the same command (without --resume)"

    def _interrupted(self, where: str, what: str = "", then: str = "") -> Interrupted:
        error = Interrupted(f"interrupted {where} ({self.stop.name}): saved {what}{self.out_dir / 'last.pt'}; continue "
                            f"with the same command plus --resume{then}")
        error.exit_code = self.stop.exit_code
        return error

    def _stop_requested(self, batch: int | None = None, total: int | None = None) -> bool:
        """A signal asked to stop; under DDP the ranks agree, at the steps where they synchronise anyway."""
        if not self.dist.enabled:
            return self.stop.requested is not None
        if batch is not None and batch % NAN_CHECK_EVERY and batch != total:
            return False
        flag = torch.tensor([0.0 if self.stop.requested is None else 1.0], device=self.device)
        return distributed.all_reduce_sum(self.dist, flag).item() > 0

    def _train_epoch(self, state: RunState) -> None:
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
            if self._stop_requested(batch_index, total_batches):  # between steps: the state is a step boundary
                self._check_finite(loss_sum, epoch, batch_index)
                state.batch = batch_index
                state.sums = self._merged_sums(state.sums, loss_sum, correct, seen, time.perf_counter() - started)
                self._save_state(state)
                raise self._interrupted(f"at epoch {epoch + 1}, batch {batch_index}")
        self._check_finite(loss_sum, epoch, batch_index)
        local = self._merged_sums(state.sums, loss_sum, correct, seen, time.perf_counter() - started)
        sums = distributed.all_reduce_sum(self.dist, torch.tensor(local[:3], dtype=torch.float64, device=self.device))
        sums = sums.tolist() + [local[3]]
        try:  # evaluation changes no state: a signal may cut it short, and the epoch's training is saved
            with self.stop.interruptible() if not self.dist.enabled else contextlib.nullcontext():
                test = evaluate(unwrap(self.model), self.test_loader, self.device, cfg.run.amp, cfg.run.limit_batches,
                                self.dist)
        except KeyboardInterrupt:
            state.batch, state.sums = batch_index, local
            self._save_state(state)
            raise self._interrupted(f"in the evaluation of epoch {epoch + 1}", "its training in ",
                                    ", which evaluates it first") from None
        seconds = sums[3]
        row = {"epoch": epoch, "lr": lr, "train_loss": sums[0] / max(sums[2], 1), "train_acc": 100.0 * sums[1] / max(sums[2], 1),
               "test_loss": test["loss"], "test_acc": test["accuracy"], "seconds": seconds,
               "images_per_s": sums[2] / max(seconds, 1e-9)}
        state.history.append(row)
        state.epoch, state.batch, state.sums = epoch + 1, 0, [0.0, 0, 0, 0.0]
        if row["test_acc"] > state.best_acc:
            state.best_acc, state.best_epoch = row["test_acc"], epoch
        self._save_state(state)  # first: the epoch's other files can be written again from it
        self._write_outputs(state, row)
        self._log_tensorboard(row)
        self.reporter.epoch_end(row, cfg.optim.epochs)
        if state.epoch < cfg.optim.epochs and self._stop_requested():
            raise self._interrupted(f"after epoch {epoch + 1}")

    @staticmethod
    def _merged_sums(previous: list, loss_sum: torch.Tensor, correct: torch.Tensor, seen: int, seconds: float) -> list:
        return [previous[0] + loss_sum.item(), previous[1] + int(correct), previous[2] + seen, previous[3] + seconds]

    def _check_finite(self, loss_sum: torch.Tensor, epoch: int, batch: int) -> None:
        if not math.isfinite(loss_sum.item()):
            last = self.out_dir / "last.pt"
            advice = (f"{last} keeps the last good save; try a lower --lr or --amp off in a new run (another --name)"
                      if last.is_file() else
                      "nothing was saved; rerun with a lower --lr or --amp off (the folder can be reused)")
            raise RunError(f"the training loss became {loss_sum.item()} in epoch {epoch + 1} by batch {batch}; "
                           f"stopped without saving it: {advice}")

    def _summary(self, state: RunState) -> dict:
        final = state.history[-1] if state.history else None
        return {"out_dir": str(self.out_dir), "epochs": state.epoch, "final_acc": final["test_acc"] if final else None,
                "best_acc": state.best_acc if state.best_epoch >= 0 else None, "best_epoch": state.best_epoch,
                "select_on_test": self.config.run.select_on_test}

