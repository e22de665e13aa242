"""Run by tests/test_ddp.py under torchrun: one tiny DDP training, then each rank saves its weights."""

import sys
from pathlib import Path

import torch

from shiftnet.checkpoint import unwrap
from shiftnet.config import load_config
from shiftnet.engine.train import Reporter, Trainer


def main(out: str, data_dir: str) -> None:
    config = load_config(None, {
        "model.arch": "shiftresnet", "model.depth": 8, "model.expansion": 2.0, "data.batch_size": 16,
        "data.eval_batch_size": 8, "optim.epochs": 2, "run.limit_batches": 2, "optim.lr": 0.02, "run.device": "cpu", "run.seed": 3, "run.sync_bn": True,
        "data.data_dir": data_dir,
    })
    trainer = Trainer(config, Path(out) / "run", reporter=Reporter())
    rank = trainer.dist.rank
    trainer.run()
    torch.save(unwrap(trainer.model).state_dict(), Path(out) / f"rank{rank}.pt")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
