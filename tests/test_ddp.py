"""DDP through torchrun on CPU (gloo, 2 processes) against a single process with the same global batch.

With batch norm synchronised across the processes the two runs compute the same function, so they
agree to float tolerance; a few steps only, because tiny random-data runs amplify rounding
differences step after step (after one step the relative difference is about 1e-6). One torchrun
start runs every case (full, crash and resume, one rank's Ctrl-C and resume: ``ddp_worker.py``), each
with a new ``Trainer``, because starting the processes costs far more than the tiny trainings.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from shiftnet.config import load_config
from shiftnet.engine.train import Reporter, Trainer

from .helpers import make_ready_cifar10


@pytest.mark.slow
def test_two_process_ddp_matches_single_process(tmp_path):
    data = make_ready_cifar10(tmp_path / "data")
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           str(Path(__file__).with_name("ddp_worker.py")), str(tmp_path), str(data)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    ranks = [json.loads((tmp_path / f"outcomes-rank{rank}.json").read_text()) for rank in (0, 1)]

    assert [outcomes["full"]["ended"] for outcomes in ranks] == ["completed"] * 2
    rank0 = torch.load(tmp_path / "full-rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "full-rank1.pt", weights_only=True)
    assert all(torch.equal(rank0[k], rank1[k]) for k in rank0), "ranks diverged"
    assert (tmp_path / "run" / "final.safetensors").is_file() and (tmp_path / "run" / "metrics.csv").is_file()

    single = load_config(None, {
        "model.arch": "shiftresnet", "model.depth": 8, "model.expansion": 2.0, "data.batch_size": 16,
        "data.eval_batch_size": 8, "optim.epochs": 2, "run.limit_batches": 2, "optim.lr": 0.02, "run.device": "cpu",
        "run.seed": 3, "data.data_dir": str(data),
    })
    trainer = Trainer(single, tmp_path / "single", reporter=Reporter())
    trainer.run()
    reference = trainer.model.state_dict()
    for key, value in reference.items():
        if key.endswith("num_batches_tracked"):
            continue
        torch.testing.assert_close(rank0[key], value, rtol=1e-3, atol=1e-5, msg=lambda m, key=key: f"{key}: {m}")

    # resume under DDP: a crash mid-epoch (nothing saved), then --resume: the same weights as the full run
    crashes = [(outcomes["crash"]["ended"], outcomes["crash"]["exit_code"]) for outcomes in ranks]
    assert crashes == [("SystemExit", 3)] * 2
    assert ranks[0]["crash"]["saved"] == [1, 0] and not (tmp_path / "crash-rank0.pt").exists()
    assert [outcomes["resume"]["ended"] for outcomes in ranks] == ["completed"] * 2
    resumed = torch.load(tmp_path / "resume-rank0.pt", weights_only=True)
    assert all(torch.equal(resumed[k], rank0[k]) for k in rank0)

    # Ctrl-C that reaches rank 1 only: the ranks agree at the next step they synchronise (here the
    # epoch's last, batch 2), rank 0 saves there, both stop; the resumed run ends as the full run
    for outcomes in ranks:
        stopped = outcomes["interrupt"]
        assert stopped["ended"] == "Interrupted" and "interrupted at epoch 2, batch 2" in stopped["message"], stopped
        assert stopped["exit_code"] == 130, stopped
    assert ranks[0]["interrupt"]["saved"] == [1, 2]
    assert [outcomes["resume-interrupted"]["ended"] for outcomes in ranks] == ["completed"] * 2
    resumed = torch.load(tmp_path / "resume-interrupted-rank0.pt", weights_only=True)
    assert all(torch.equal(resumed[k], rank0[k]) for k in rank0)

    # a NaN loss on rank 1 only: the check sums the ranks' losses, so both stop with the same line (one
    # rank stopping alone would leave the other waiting in its next all-reduce); epoch 1's save is kept
    stopped = [outcomes["nan"] for outcomes in ranks]
    assert [item["ended"] for item in stopped] == ["RunError"] * 2, stopped
    assert stopped[0]["message"] == stopped[1]["message"], stopped
    assert stopped[0]["message"].startswith("the training loss became nan in epoch 2 by batch 2"), stopped
    assert ranks[0]["nan"]["saved"] == [1, 0]
