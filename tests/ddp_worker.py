"""Run by tests/test_ddp.py under torchrun: tiny DDP trainings one after another in the same two
processes (torchrun starts three Python processes, which costs far more than the trainings), each
rank saving its weights after each run that completes and recording how each ended, and the (epoch,
batch) its folder's last.pt then holds, in ``OUT/outcomes-rank{RANK}.json``.

argv: OUT DATA_DIR. The runs, in order: full (train to the end), crash (die at epoch 2, batch 1, as
kill -9 would: nothing saved), resume (continue the crashed run), interrupt (rank 1 alone gets SIGINT
at epoch 2, batch 1: the ranks agree to stop and rank 0 saves), resume-interrupted and nan (rank 1
alone computes a NaN loss: both stop with the same error). Each run is a
new ``Trainer``: it sets the process group up again (in a rendezvous store of its own: ``fresh_store``)
and takes everything else from the run folder."""

import json
import os
import signal
import sys
from pathlib import Path

import torch
import torch.distributed as dist

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


def poison_rank_1(trainer):
    """Rank 1 alone gets NaN weights after epoch 2's first step: its next loss is NaN, rank 0's still finite."""
    def hook(epoch, batch, step):
        if (epoch, batch) == (1, 1) and os.environ.get("RANK") == "1":
            with torch.no_grad():
                unwrap(trainer.model).linear.weight.fill_(float("nan"))
    return hook


HOOKS = {"crash": crash, "interrupt": interrupt_rank_1}
FOLDERS = {"full": "run", "crash": "crashed", "resume": "crashed", "interrupt": "interrupted",
           "resume-interrupted": "interrupted", "nan": "nan"}


def train(out: str, data_dir: str, mode: str) -> None:
    config = load_config(None, {
        "model.arch": "shiftresnet", "model.depth": 8, "model.expansion": 2.0, "data.batch_size": 16,
        "data.eval_batch_size": 8, "optim.epochs": 2, "run.limit_batches": 2, "optim.lr": 0.02, "run.device": "cpu",
        "run.seed": 3, "run.sync_bn": True, "data.data_dir": data_dir,
    })
    folder = Path(out) / FOLDERS[mode]
    reporter = Hooked(HOOKS.get(mode))
    trainer = Trainer(config, folder, resume=mode.startswith("resume"), reporter=reporter)
    if mode == "nan":
        reporter.hook = poison_rank_1(trainer)
    trainer.run()
    torch.save(unwrap(trainer.model).state_dict(), Path(out) / f"{mode}-rank{trainer.dist.rank}.pt")


def fresh_store(run: int, agent: dist.TCPStore) -> dist.TCPStore | None:
    """An empty rendezvous store for this run, as torchrun makes one for each restart of its workers: a
    process group set up again in the store of the previous one can read that group's stale addresses.
    Rank 0 serves it on a free port and tells rank 1 through torchrun's store; the run's process group
    then meets there as it meets in torchrun's (``MASTER_PORT``, with TORCHELASTIC_USE_AGENT_STORE)."""
    store = None
    if os.environ["RANK"] == "0":
        store = dist.TCPStore("127.0.0.1", 0, is_master=True, wait_for_workers=False)
        agent.set(f"run-{run}-port", str(store.port))
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", agent.get(f"run-{run}-port").decode()
    return store


def main(out: str, data_dir: str) -> None:
    assert os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True", "run under torchrun"
    agent = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), is_master=False)
    outcomes = {}
    for run, mode in enumerate(FOLDERS):
        store = fresh_store(run, agent)  # noqa: F841 - rank 0 serves it while the run lasts
        try:
            train(out, data_dir, mode)
            outcomes[mode] = {"ended": "completed"}
        except (Exception, SystemExit, KeyboardInterrupt) as exc:  # what would have ended a process of its own
            outcomes[mode] = {"ended": type(exc).__name__, "message": str(exc),
                              "exit_code": getattr(exc, "exit_code", getattr(exc, "code", None))}
        last = Path(out) / FOLDERS[mode] / "last.pt"  # what the next run of the folder resumes from
        if last.is_file():
            saved = torch.load(last, weights_only=True)
            outcomes[mode]["saved"] = [saved["epoch"], saved["batch"]]
    Path(out, f"outcomes-rank{os.environ['RANK']}.json").write_text(json.dumps(outcomes))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
