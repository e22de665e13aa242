"""The training loop: the seed's recipe, resumable bit for bit, with honest reporting.

Exact resume: every random choice of an epoch (order, crops, flips) is a function of (seed, epoch)
(``data.loader``), and ``last.pt`` holds model, optimizer, AMP scaler, position and sums (``state``). It is
written at the end of every epoch (before the epoch's other files, which a resume at an epoch end
writes again) and on Ctrl-C or SIGTERM, which the loop honours between steps only (``interrupts``): a
state is never saved from inside a forward pass. A run killed any other way resumes from the last
save and replays the same batches. A NaN/inf training or test loss stops the run without saving.

Nothing is written before all that can be checked is (folder, device, model, data): a failure before the
first epoch ends leaves at most ``config.yaml``, ``environment.json`` and ``train.log``, and such a folder
is reused; one process at a time writes a run folder (``runfolder``).

Reporting: every epoch's test accuracy is logged; the run reports the final epoch's and, labelled as
selected on the test set, the best (the headline with ``select_on_test``, as the seed did). Once all is
checked, rank 0 records the environment, opens ``train.log`` (``runlog``) and starts W&B (``scalars``).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch

from ..checkpoint import EpochStats, Progress, save_weights, training_metadata, unwrap
from ..config import Config, dump_yaml, lr_at
from ..errors import Interrupted, UsageError
from ..fileio import atomic_write_text
from ..runtime import resolve_device, tune_allocator
from . import distributed, environment, runfolder, setup, state
from .evaluate import evaluate
from .interrupts import StopRequests
from .reporting import Reporter, Silent, format_epoch, opening_lines, summary, summary_line
from .runlog import RunLog, ending, marker
from .scalars import Scalars
from .step import CHECK_EVERY, RunningTotals, stop_unless_finite, train_step

__all__ = ["Reporter", "Trainer", "format_epoch"]


class Trainer:
    """One training run in ``out_dir``; ``run()`` trains to the configured epoch count. ``reporter``
    hears every event of the loop (``reporting.Reporter``); ``model`` is the model once built."""

    def __init__(self, config: Config, out_dir: Path, resume: bool = False, reporter: Reporter | None = None):
        self.config = config
        self.out_dir = Path(out_dir)
        self.resume = resume
        self.reporter = reporter or Reporter()
        self.device = resolve_device(config.run.device)
        if config.run.amp == "fp16" and self.device.type != "cuda":
            raise UsageError("--amp fp16 needs a CUDA device (it uses a GradScaler); use --amp bf16 on CPU")
        if config.run.shift_impl == "cupy" and self.device.type != "cuda":
            raise UsageError(f"--shift-impl cupy needs a CUDA device, not {self.device}; use auto, torch or conv")
        self.dist = distributed.setup(self.device.type)
        self._log = RunLog(self.reporter, self.out_dir / "train.log") if self.dist.is_main else None
        self.reporter = self._log or Silent(self.reporter)
        if self.dist.enabled and self.device.type == "cuda":
            self.device = torch.device("cuda", self.dist.local_rank)
        if config.data.batch_size % self.dist.world_size:
            raise UsageError(f"--batch-size {config.data.batch_size} is the global batch and must divide by the "
                             f"{self.dist.world_size} processes")
        self.stop = StopRequests(escalate=not self.dist.enabled)
        self.parts: setup.Parts | None = None  # built by run(), once the folder and settings are checked
        self.loaders = None  # (train, test)
        self._lock = runfolder.RunLock(self.out_dir)
        self._scalars = Scalars(self.out_dir / "tensorboard", config.run, self.dist.world_size, self.dist.is_main)

    @property
    def model(self) -> torch.nn.Module | None:
        return None if self.parts is None else self.parts.model

    # ------------------------------------------------------------------ start
    def run(self) -> dict:
        tune_allocator()
        result = error = None
        try:
            progress = self._start()
            with self.stop:
                while progress.epoch < self.config.optim.epochs:
                    self._train_epoch(progress)
            result = summary(self.out_dir, progress, self.config.run.select_on_test)
        except KeyboardInterrupt:  # during start-up, or a second Ctrl-C: this moment is not saved
            error = Interrupted(f"stopped ({self.stop.name}) without saving this moment; {self._how_to_continue()}")
            raise error from None
        except BaseException as exc:
            error = exc
            raise
        finally:
            self._scalars.close(result, error)
            if self._log is not None:
                self._log.close(ending(error, result and summary_line(result)))
            self._lock.release()
            distributed.cleanup(self.dist)
        return result

    def _start(self) -> Progress:
        """Check everything first (folder, model on the device, data), then claim the folder and write."""
        for line in opening_lines(self.config, self.device, self.dist.world_size, self.out_dir):
            self.reporter.message(line)  # on the screen, and after the marker in train.log
        runfolder.check_folder(self.out_dir, self.resume, lock=self.dist.is_main)
        distributed.barrier(self.dist)  # every rank checks the folder before rank 0 writes to it
        saved = None
        if self.resume:
            self._claim_folder()
            saved = state.load_resumable(self.out_dir, self.config)
        self.parts = setup.build(self.config, self.device, self.dist, self.out_dir, self.reporter.message)
        self.loaders = self._data()
        if not self.resume:
            self._claim_folder()
        progress = Progress()
        if saved is not None:
            progress = state.restore(saved, self.parts, self.device, self.out_dir / "last.pt")
            self.reporter.message(f"resumed {self.out_dir} at epoch {progress.epoch + 1}, batch {progress.batch}")
        if self.dist.is_main:
            self._open_records(progress)
            atomic_write_text(self.out_dir / "config.yaml", dump_yaml(self.config))
        if progress.batch == 0 and progress.history:  # a run that died between last.pt and the epoch's other files
            self._write_outputs(progress, progress.history[-1])
        return progress

    def _data(self):
        return setup.loaders(self.config, self.device, self.dist)

    def _open_records(self, progress: Progress) -> None:
        """Rank 0, everything checked: environment.json, train.log's marker for this start, W&B."""
        start = environment.record(self.out_dir, environment.collect(self.device, self.dist.world_size), self.resume)
        where = f"resume at epoch {progress.epoch + 1}, batch {progress.batch}" if self.resume else "start"
        self._log.open(marker(where, start))
        self._scalars.start(start, self.out_dir.name, self.config.to_dict())

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

    # ------------------------------------------------------------------ epochs
    def _train_epoch(self, progress: Progress) -> None:
        optim, parts = self.config.optim, self.parts
        if progress.batch == 0:
            if optim.reset_momentum_each_epoch:  # the seed rebuilt SGD every epoch: momentum starts from zero
                parts.optimizer = setup.new_optimizer(parts.model, optim)
            progress.stats = EpochStats()
        lr = lr_at(optim, progress.epoch)
        for group in parts.optimizer.param_groups:
            group["lr"] = lr
        train_loader = self.loaders[0]
        train_loader.set_epoch(progress.epoch)
        total = len(train_loader)
        if self.config.run.limit_batches is not None:
            total = min(total, self.config.run.limit_batches)
        self.reporter.epoch_start(progress.epoch, optim.epochs, total, progress.batch)
        parts.train_model.train()
        totals = self._train_batches(progress, total)
        self._end_epoch(progress, totals, lr)

    def _train_batches(self, progress: Progress, total: int) -> RunningTotals:
        """Steps from ``progress.batch`` to ``total``; on a stop request, saves between two steps and raises."""
        parts, epoch, amp = self.parts, progress.epoch, self.config.run.amp
        totals = RunningTotals(self.device)
        for inputs, labels in self.loaders[0].batches(start=progress.batch):
            if progress.batch >= total:
                break
            loss, logits = train_step(parts.train_model, parts.optimizer, inputs, labels, amp, parts.scaler)
            totals.add(loss, logits, labels)
            progress.batch += 1
            progress.step += 1
            self._scalars.step(progress.step, loss, parts.optimizer.param_groups[0]["lr"], totals)
            if progress.batch % CHECK_EVERY == 0 or progress.batch == total:
                totals.check_finite(epoch, progress.batch, self.out_dir / "last.pt", self.dist)
                so_far = totals.after(progress.stats)
                self.reporter.batch(progress.batch, so_far.loss, so_far.accuracy,
                                    totals.images_per_s() * self.dist.world_size)
            self.reporter.step_done(epoch, progress.batch, progress.step)
            # between two steps: the state saved is a step boundary
            if self.stop.agreed(self.dist, self.device, progress.batch, total):
                totals.check_finite(epoch, progress.batch, self.out_dir / "last.pt", self.dist)
                progress.stats = totals.after(progress.stats)
                self._save_state(progress)
                raise self._interrupted(f"at epoch {epoch + 1}, batch {progress.batch}")
        return totals

    def _end_epoch(self, progress: Progress, totals: RunningTotals, lr: float) -> None:
        """Evaluate, record the epoch's row, save last.pt and then the epoch's other files."""
        epoch, run = progress.epoch, self.config.run
        totals.check_finite(epoch, progress.batch, self.out_dir / "last.pt", self.dist)
        local = totals.after(progress.stats)
        counts = torch.tensor(local.to_list()[:3], dtype=torch.float64, device=self.device)
        stats = EpochStats(*distributed.all_reduce_sum(self.dist, counts).tolist(), local.seconds)
        try:  # evaluation changes no state: a signal may cut it short, and the epoch's training is saved
            with self.stop.interruptible() if not self.dist.enabled else contextlib.nullcontext():
                self.reporter.evaluation_start(epoch)
                test = evaluate(unwrap(self.parts.model), self.loaders[1], self.device, run.amp, run.limit_batches,
                                self.dist)
        except KeyboardInterrupt:
            progress.stats = local
            self._save_state(progress)
            raise self._interrupted(f"in the evaluation of epoch {epoch + 1}", "its training in ",
                                    ", which evaluates it first") from None
        stop_unless_finite("test loss", test["loss"], f"in epoch {epoch + 1}", self.out_dir / "last.pt")
        row = {"epoch": epoch, "lr": lr, "train_loss": stats.loss, "train_acc": stats.accuracy,
               "test_loss": test["loss"], "test_acc": test["accuracy"], "seconds": stats.seconds,
               "images_per_s": stats.seen / max(stats.seconds, 1e-9)}
        progress.history.append(row)
        progress.epoch, progress.batch, progress.stats = epoch + 1, 0, EpochStats()
        if row["test_acc"] > progress.best_acc:
            progress.best_acc, progress.best_epoch = row["test_acc"], epoch
        self._save_state(progress)  # first: the epoch's other files can be written again from it
        self._write_outputs(progress, row)
        self._scalars.epoch(row)
        self.reporter.epoch_end(row, self.config.optim.epochs)
        if progress.epoch < self.config.optim.epochs and self.stop.agreed(self.dist, self.device):
            raise self._interrupted(f"after epoch {epoch + 1}")

    # ------------------------------------------------------------------ files and stops
    def _save_state(self, progress: Progress) -> None:
        if self.dist.is_main:
            state.snapshot(self.config, self.parts, self.device, progress).save(self.out_dir / "last.pt")

    def _write_outputs(self, progress: Progress, row: dict) -> None:
        """The files of a finished epoch besides last.pt (rank 0): best and final weights, metrics.csv."""
        if not self.dist.is_main:
            return
        for name, kind, due in (("best", "best-on-test", progress.best_epoch == row["epoch"]),
                                ("final", "final", progress.epoch == self.config.optim.epochs)):
            if due:
                metadata = {**training_metadata(self.config.to_dict()), "epoch": row["epoch"],
                            "test_accuracy": row["test_acc"], "kind": kind}
                save_weights(self.out_dir / f"{name}.safetensors", self.parts.model, self.parts.spec, **metadata)
        runfolder.write_metrics(self.out_dir, progress.history)

    def _how_to_continue(self) -> str:
        if (self.out_dir / "last.pt").is_file():
            return f"{self.out_dir / 'last.pt'} holds the last save: continue with the same command plus --resume"
        return "no epoch was saved: rerun the same command (without --resume)"

    def _interrupted(self, where: str, what: str = "", then: str = "") -> Interrupted:
        error = Interrupted(f"interrupted {where} ({self.stop.name}): saved {what}{self.out_dir / 'last.pt'}; continue "
                            f"with the same command plus --resume{then}")
        error.exit_code = self.stop.exit_code
        return error
