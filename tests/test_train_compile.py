"""``train --compile`` for long runs: with channels_last and bf16 on CPU, the warm-up said once, the
compile cache kept in the run folder and hit again on ``--resume``, and a clean fallback when inductor
cannot compile. Inductor's own counters are the oracle for cache hits."""

from __future__ import annotations

import signal

import pytest
import torch
from torch._dynamo.utils import counters

from shiftnet.engine.train import Reporter, Trainer
from shiftnet.errors import Interrupted

from .runs import data_dir, one_thread, tiny_config  # noqa: F401 - fixtures


class Collect(Reporter):
    def __init__(self, at_step=None):
        self.lines = []
        self.at_step = at_step

    def message(self, text: str) -> None:
        self.lines.append(text)

    def step_done(self, epoch: int, batch: int, step: int) -> None:
        if self.at_step is not None:
            self.at_step(epoch, batch, step)


@pytest.fixture
def inductor_cache(monkeypatch, tmp_path):
    """Whatever the run sets, the process's inductor and Triton cache variables come back afterwards."""
    from torch._inductor.runtime.cache_dir_utils import default_cache_dir

    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", default_cache_dir())  # as inductor leaves it once it has run
    monkeypatch.delenv("TRITON_CACHE_DIR", raising=False)
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


@pytest.mark.slow
def test_compiled_run_reports_warmup_and_reuses_its_cache_on_resume(data_dir, tmp_path, inductor_cache):  # noqa: F811
    config = tiny_config(data_dir, epochs=2, **{"run.compile": True, "run.channels_last": True, "run.amp": "bf16"})
    out = tmp_path / "run"

    def stop_after_epoch_one(epoch, batch, step):
        if epoch == 1 and batch == 1:
            trainer.stop.requested = signal.SIGINT  # what Ctrl-C does, at a step boundary

    first = Collect(stop_after_epoch_one)
    trainer = Trainer(config, out, reporter=first)
    with pytest.raises(Interrupted):
        trainer.run()
    warmups = [line for line in first.lines if "first step took" in line]
    assert len(warmups) == 1 and str(out / ".compile-cache") in warmups[0]
    assert any((out / ".compile-cache").rglob("*")), "nothing was cached in the run folder"
    assert not any("cannot compile" in line for line in first.lines)

    torch._dynamo.reset()  # a new process would start with nothing in memory
    counters.clear()
    second = Collect()
    Trainer(config, out, resume=True, reporter=second).run()
    assert counters["inductor"]["fxgraph_cache_hit"] > 0 and counters["inductor"]["fxgraph_cache_miss"] == 0
    assert sum("first step took" in line for line in second.lines) == 1
    assert len((out / "metrics.csv").read_text().strip().splitlines()) == 3  # header + 2 epochs


def test_a_model_inductor_cannot_compile_trains_eagerly_after_one_warning(data_dir, tmp_path, inductor_cache):  # noqa: F811
    import torch._inductor.config as inductor_config

    reporter = Collect()
    # a machine without a C++ compiler (patch() restores the setting; monkeypatch would delete it)
    with inductor_config.patch({"cpp.cxx": ("/nonexistent/c++",)}):
        Trainer(tiny_config(data_dir, epochs=1, **{"run.compile": True}), tmp_path / "run", reporter=reporter).run()
    warnings = [line for line in reporter.lines if "cannot compile" in line]
    assert len(warnings) == 1 and warnings[0].startswith("warning: torch.compile cannot compile this model")
    assert "\n" not in warnings[0]
    assert len((tmp_path / "run" / "metrics.csv").read_text().strip().splitlines()) == 2


def test_a_cache_folder_the_user_chose_is_kept(tmp_path, monkeypatch):
    from shiftnet.engine.compiling import use_run_cache

    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "mine"))
    monkeypatch.delenv("TRITON_CACHE_DIR", raising=False)
    assert use_run_cache(tmp_path / "run") == tmp_path / "mine"
    assert use_run_cache(tmp_path / "run") == tmp_path / "mine"  # and again: the choice is not forgotten
