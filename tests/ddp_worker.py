"""Run by tests/test_ddp.py under torchrun: one tiny DDP training, then each rank saves its weights.

argv: OUT DATA_DIR MODE, MODE = full (train to the end), crash (die at epoch 2, batch 1, as kill -9
would: nothing saved), resume (continue the crashed run), interrupt (rank 1 alone gets SIGINT at
epoch 2, batch 1: the ranks agree to stop and rank 0 saves) or resume-interrupted."""

import os
import signal
import sys
from pathlib import Path

import torch

from shiftnet.checkpoint import unwrap
from shiftnet.config import load_config
from shiftnet.engine.train import Reporter, Trainer


class Hooked(Reporter):
    """Prints as a run does; ``hook(epoch, batch, step)`` after each optimizer step."""

    def __init__(self, hook=None):
        self.hook = hook

    def step_done(self, epoch, batch, step):
        if self.hook is not None:
            self.hook(epoch, batch, step)


def crash(epoch, batch, step):
    if (epoch, batch) == (1, 1):
        raise SystemExit(3)


def interrupt_rank_1(epoch, batch, step):
    if (epoch, batch) == (1, 1) and os.environ.get("RANK") == "1":
        os.kill(os.getpid(), signal.SIGINT)


HOOKS = {"crash": crash, "interrupt": interrupt_rank_1}
FOLDERS = {"full": "run", "crash": "crashed", "resume": "crashed", "interrupt": "interrupted",
           "resume-interrupted": "interrupted"}


def main(out: str, data_dir: str, mode: str) -> None:
    config = load_config(None, {
        "model.arch": "shiftresnet", "model.depth": 8, "model.expansion": 2.0, "data.batch_size": 16,
        "data.eval_batch_size": 8, "optim.epochs": 2, "run.limit_batches": 2, "optim.lr": 0.02, "run.device": "cpu",
        "run.seed": 3, "run.sync_bn": True, "data.data_dir": data_dir,
    })
    folder = Path(out) / FOLDERS[mode]
    trainer = Trainer(config, folder, resume=mode.startswith("resume"), reporter=Hooked(HOOKS.get(mode)))
    rank = trainer.dist.rank
    trainer.run()
    torch.save(unwrap(trainer.model).state_dict(), Path(out) / f"{mode}-rank{rank}.pt")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
