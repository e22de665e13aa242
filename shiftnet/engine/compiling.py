"""``--compile`` for long runs: the compile cache kept with the run, the warm-up said once, a clean fallback.

- Cache: inductor's compiled kernels are cached on disk (by default under /tmp, which a reboot may
  clear). A run keeps them in ``<run folder>/.compile-cache`` instead, so ``--resume`` (days later,
  after a reboot) finds them and starts in seconds rather than recompiling. A cache directory the
  user chose with ``TORCHINDUCTOR_CACHE_DIR`` is respected.
- Warm-up: the first step compiles (seconds to minutes on a CPU); its time is reported once, so a
  slow first step is not mistaken for a slow run.
- Fallback: where inductor cannot compile (no C++ compiler, an unsupported operator), the run says
  so in one warning line and continues with the eager model; the result is the same network, only
  slower.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable

import torch
from torch import nn

CACHE_FOLDER = ".compile-cache"


def use_run_cache(out_dir: Path) -> Path:
    """Point inductor's (and Triton's) on-disk cache at the run folder unless the user chose one.
    Inductor writes its default back into the variable once it has used it, so only a value that
    differs from that default counts as the user's choice."""
    from torch._inductor.runtime.cache_dir_utils import default_cache_dir

    chosen = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    folder = Path(chosen) if chosen and Path(chosen).resolve() != Path(default_cache_dir()).resolve() \
        else out_dir / CACHE_FOLDER
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(folder.resolve())
    if not os.environ.get("TRITON_CACHE_DIR"):
        os.environ["TRITON_CACHE_DIR"] = str((folder / "triton").resolve())
    return folder


def _compile_failure(exc: BaseException) -> bool:
    from torch._dynamo.exc import TorchDynamoException

    return isinstance(exc, TorchDynamoException)


class CompiledWithFallback(nn.Module):
    """``torch.compile(module)``, timing its first step and falling back to ``module`` if it cannot compile."""

    def __init__(self, module: nn.Module, say: Callable[[str], None], cache: Path):
        super().__init__()
        self.eager = module
        # static shapes: the epoch's last, smaller batch gets a graph of its own (compiled once, cached)
        # instead of turning the batch size symbolic for every later step
        self.compiled = torch.compile(module, dynamic=False)
        self._say, self._cache = say, cache
        self._first_call: float | None = None
        self._reported = False
        self.fell_back = False

    def forward(self, *args, **kwargs):
        if self.fell_back:
            return self.eager(*args, **kwargs)
        now = time.perf_counter()
        if self._first_call is None:
            self._first_call = now
        elif not self._reported:  # the second forward: the first whole step (forward, backward, update) is done
            self._reported = True
            self._say(f"torch.compile: the first step took {now - self._first_call:.0f} s (compiling, once); "
                      f"compiled code cached in {self._cache}")
        try:
            return self.compiled(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - only compiler failures are caught; the rest is re-raised
            if not _compile_failure(exc):
                raise
            reason = " ".join(str(exc).split())[:200]
            self._say(f"warning: torch.compile cannot compile this model ({type(exc).__name__}: {reason}); "
                      f"training continues without compiling (same results, slower)")
            self.fell_back = True
            return self.eager(*args, **kwargs)
