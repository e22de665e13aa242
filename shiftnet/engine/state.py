"""A run's state into ``last.pt`` and back (``checkpoint.RunState`` is the file's schema), and what a
``last.pt`` must match to be resumed: the command's config (``config_differences``; settings of speed and
logging may change) and the model built from it (``check_weights_fit``), each failure one line that
says what to do.

Exact resume needs the model, optimizer, AMP scaler and the CPU (and GPU) generator states as they
were between two steps; the position and running totals of the epoch are the loop's ``Progress``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..checkpoint import Progress, RunState, unwrap
from ..config import Config
from ..errors import UsageError
from .setup import Parts

# config keys that may differ on --resume (they do not change what is computed, or only its speed)
RESUMABLE_CHANGES = {("run", "device"), ("run", "compile"), ("run", "name"), ("run", "out"), ("data", "data_dir"),
                     ("data", "eval_batch_size"), ("run", "shift_impl"), ("run", "log_every"), ("run", "wandb")}


def load_resumable(folder: Path, config: Config) -> RunState:
    """``folder/last.pt``, if it can continue under ``config``; one line that says what to do if not."""
    path = folder / "last.pt"
    try:
        saved = RunState.load(path)
    except UsageError as exc:
        raise UsageError(f"{exc}; it cannot be resumed: move it away and start again, or choose another "
                         f"--out / --name") from None
    diffs = config_differences(saved.config, config.to_dict())
    if diffs:
        raise UsageError(f"--resume with a different config ({'; '.join(diffs)}); rerun with the saved settings "
                         f"(see {folder / 'config.yaml'}) or start a new run with another --name")
    return saved


def snapshot(config: Config, parts: Parts, device: torch.device, progress: Progress) -> RunState:
    rng = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        rng["cuda"] = torch.cuda.get_rng_state(device)
    scaler = parts.scaler.state_dict() if parts.scaler.is_enabled() else {}
    return RunState(config.to_dict(), unwrap(parts.model).state_dict(), parts.optimizer.state_dict(), scaler, rng,
                    progress)


def restore(saved: RunState, parts: Parts, device: torch.device, path: Path) -> Progress:
    """Load ``saved`` into ``parts`` and the generators; its progress. One line if it does not fit."""
    check_weights_fit(saved.model, parts.model.state_dict(), parts.spec.name, path)
    try:
        parts.model.load_state_dict(saved.model)
        if saved.optimizer:
            parts.optimizer.load_state_dict(saved.optimizer)
        if saved.scaler:
            parts.scaler.load_state_dict(saved.scaler)
        torch.set_rng_state(saved.rng["torch"])
        if device.type == "cuda" and saved.rng.get("cuda") is not None:
            torch.cuda.set_rng_state(saved.rng["cuda"], device)
    except (RuntimeError, ValueError, KeyError, TypeError, IndexError) as exc:
        message = " ".join(str(exc).split())[:200]
        raise UsageError(f"{path} does not fit this run ({type(exc).__name__}: {message}); it cannot be resumed: "
                         f"start a new run with another --out / --name") from None
    return saved.progress


def config_differences(saved: dict, current: dict) -> list[str]:
    """Keys that differ; a key that a run saved by an older version lacks counts only if it is not at its default."""
    defaults = Config().to_dict()
    diffs = []
    for section, values in current.items():
        for key, value in values.items():
            if (section, key) in RESUMABLE_CHANGES:
                continue
            old = saved.get(section, {}).get(key, defaults[section][key])
            if old != value:
                diffs.append(f"{section}.{key}: {_short(old)} -> {_short(value)}")
    return diffs


def _short(value) -> str:
    """repr() for a message, bounded (a last.pt can hold anything; Python refuses repr() of huge ints)."""
    try:
        text = repr(value)
    except ValueError:
        return "a huge integer"
    return text if len(text) <= 60 else text[:57] + "..."


def check_weights_fit(found: dict, expected: dict, name: str, path: Path) -> None:
    """last.pt's weights have the keys and shapes of the model built from the config (one line if not)."""
    expected = {k: tuple(v.shape) for k, v in expected.items()}
    found = {k: tuple(v.shape) for k, v in found.items()}
    if expected == found:
        return
    missing, extra = sorted(expected.keys() - found.keys()), sorted(found.keys() - expected.keys())
    other = [k for k in sorted(expected.keys() & found.keys()) if expected[k] != found[k]]
    example = (f"{other[0]} is {found[other[0]]}, not {expected[other[0]]}" if other else
               f"{(missing or extra)[0]} is {'missing' if missing else 'unexpected'}")
    raise UsageError(f"{path} holds the weights of another model than {name} ({len(missing)} missing, {len(extra)} "
                     f"unexpected, {len(other)} of another shape; {example}); it cannot resume this run: start a new "
                     f"one with another --out / --name")
