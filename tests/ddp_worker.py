"""Run by tests/test_ddp.py under torchrun: one tiny DDP training, then each rank saves its weights.

argv: OUT DATA_DIR MODE, MODE = full (train to the end), crash (die at epoch 2, batch 1, as kill -9
would: nothing saved) or resume (continue the crashed run)."""

import sys
from pathlib import Path

import torch

from shiftnet.checkpoint import unwrap
from shiftnet.config import load_config
from shiftnet.engine.train import Reporter, Trainer


def crash(epoch, batch, step):
    if (epoch, batch) == (1, 1):
        raise SystemExit(3)


def main(out: str, data_dir: str, mode: str) -> None:
    config = load_config(None, {
        "model.arch": "shiftresnet", "model.depth": 8, "model.expansion": 2.0, "data.batch_size": 16,
        "data.eval_batch_size": 8, "optim.epochs": 2, "run.limit_batches": 2, "optim.lr": 0.02, "run.device": "cpu",
        "run.seed": 3, "run.sync_bn": True, "data.data_dir": data_dir,
    })
    folder = Path(out) / ("run" if mode == "full" else "crashed")
    trainer = Trainer(config, folder, resume=mode == "resume", reporter=Reporter(), on_step=crash if mode == "crash" else None)
    rank = trainer.dist.rank
    trainer.run()
    torch.save(unwrap(trainer.model).state_dict(), Path(out) / f"{mode}-rank{rank}.pt")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
