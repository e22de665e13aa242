"""What a training run tells the outside world: progress events (``Reporter``), the epoch line,
and the summary ``Trainer.run`` returns (with the line that states it). ``runlog`` copies what
is printed to ``train.log``; ``scalars`` writes TensorBoard and W&B points.

``Reporter``'s methods are the loop's events; the CLI supplies a Rich one, and a caller that wants
to act at a moment of the run (stop it, change it) overrides the event of that moment.
"""

from __future__ import annotations

from pathlib import Path

from ..checkpoint import Progress


class Reporter:
    """Every event of the loop; the defaults print a line per epoch and messages."""

    def message(self, text: str) -> None:
        print(text, flush=True)

    def epoch_start(self, epoch: int, epochs: int, batches: int, done: int) -> None:
        """An epoch of ``batches`` starts (or resumes with ``done`` of them done)."""

    def batch(self, done: int, loss: float, accuracy: float, images_per_s: float) -> None:
        """Every few batches: batches done in this epoch, running loss and accuracy, throughput."""

    def step_done(self, epoch: int, batch: int, step: int) -> None:
        """After every optimizer step: the 0-based epoch, batches done in it, steps done in the run."""

    def evaluation_start(self, epoch: int) -> None:
        """The epoch's training is done and its test-set evaluation starts."""

    def epoch_end(self, row: dict, epochs: int) -> None:
        print(format_epoch(row, epochs), flush=True)


class Silent(Reporter):
    """The reporter of DDP ranks other than 0: rank 0 alone prints, while the moments of the loop
    (``step_done``, ``evaluation_start``) still reach the caller's reporter on every rank."""

    def __init__(self, inner: Reporter):
        self.inner = inner

    def message(self, text: str) -> None:
        pass

    def step_done(self, epoch: int, batch: int, step: int) -> None:
        self.inner.step_done(epoch, batch, step)

    def evaluation_start(self, epoch: int) -> None:
        self.inner.evaluation_start(epoch)

    def epoch_end(self, row: dict, epochs: int) -> None:
        pass


def opening_lines(config, device, processes: int, out_dir: Path) -> list[str]:
    """What a run says first: what it trains, where, and a warning when its test set is cut."""
    lines = [f"training {config.model_spec().name} on {config.data.dataset} ({device}, {processes} "
             f"process{'es' if processes > 1 else ''}) -> {out_dir}"]
    if (limit := config.run.limit_batches) is not None:
        lines.append(f"--limit-batches {limit}: each epoch trains on at most {limit} batches and tests on at most "
                     f"{limit} x {config.data.eval_batch_size} images: the test set is cut too, so accuracies are "
                     f"not comparable with full runs")
    return lines


def format_epoch(row: dict, epochs: int) -> str:
    return (f"epoch {row['epoch'] + 1}/{epochs}  lr {row['lr']:.4g}  train loss {row['train_loss']:.4f} "
            f"acc {row['train_acc']:.2f}%  test loss {row['test_loss']:.4f} acc {row['test_acc']:.2f}%  "
            f"{row['seconds']:.1f}s  {row['images_per_s']:.0f} img/s")


def summary(out_dir: Path, progress: Progress, select_on_test: bool) -> dict:
    """What ``Trainer.run`` returns: the final epoch's test accuracy and, labelled, the best one."""
    final = progress.final_row
    return {"out_dir": str(out_dir), "epochs": progress.epoch, "final_acc": final["test_acc"] if final else None,
            "best_acc": progress.best_acc if progress.best_epoch >= 0 else None, "best_epoch": progress.best_epoch,
            "select_on_test": select_on_test}


def summary_line(result: dict) -> str | None:
    """The run's result in words, as ``shiftnet train`` prints it and ``train.log`` ends (None if no
    epoch ended): the final epoch's accuracy, and the best labelled as selected on the test set."""
    if result["final_acc"] is None:
        return None
    if result["select_on_test"]:
        return (f"reported (seed-faithful, selected on the test set): {result['best_acc']:.2f}%; "
                f"final epoch {result['final_acc']:.2f}%")
    return (f"final test accuracy {result['final_acc']:.2f}%; best {result['best_acc']:.2f}% at epoch "
            f"{result['best_epoch'] + 1} (selected on the test set)")
