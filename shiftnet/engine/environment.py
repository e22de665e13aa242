"""What a run ran on, kept in ``<run>/environment.json``: versions, device, threads, the code's git
commit and the command line, recorded when the run first starts and again only when a resume runs
somewhere else.

A number in a results table is only as good as knowing what produced it; ``config.yaml`` says what
was asked for, this file says with what. It is a list of starts, never rewritten: a ``--resume``
appends the environment it runs in when that differs from the last one recorded (its command line
and time alone do not count, so an unchanged machine adds nothing), and the history of a run moved
between machines or library versions stays readable. ``run_id`` names the run for as long as the
folder lives (Weights & Biases resumes the same run under it).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import torch

from .. import __version__
from ..errors import UsageError
from ..fileio import atomic_write_text
from ..runtime import describe_machine

FILE = "environment.json"
FORMAT = "shiftnet-environment-1"
CUPY_PACKAGES = ("cupy-cuda13x", "cupy-cuda12x", "cupy")  # the extras' wheels, then a source build
PACKAGE_DIR = Path(__file__).resolve().parents[1]


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(PACKAGE_DIR), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_state() -> dict | None:
    """The commit of the code that runs and whether tracked files differ from it, when the package is
    the ``shiftnet/`` folder of a git checkout (an editable install); None for an installed wheel,
    including one inside some other repository's virtual environment."""
    top = _git("rev-parse", "--show-toplevel")
    if top is None or Path(top).resolve() / "shiftnet" != PACKAGE_DIR:
        return None
    commit = _git("rev-parse", "HEAD")
    changes = _git("status", "--porcelain", "--untracked-files=no")
    return None if commit is None else {"commit": commit, "dirty": bool(changes)}


def collect(device: torch.device, world_size: int) -> dict:
    """The environment of this process (rank 0 of a DDP run; ``processes`` says how many there are)."""
    cupy = next(((name, v) for name in CUPY_PACKAGES if (v := _version(name)) is not None), None)
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = os.cpu_count()
    return {
        "python": platform.python_version(), "torch": torch.__version__, "torchvision": _version("torchvision"),
        "shiftnet": __version__, "cupy": f"{cupy[0]} {cupy[1]}" if cupy else None, "cuda": torch.version.cuda,
        "device": str(device), "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "machine": describe_machine(device), "processes": world_size, "cpu_count": os.cpu_count(),
        "cpus_usable": usable, "torch_threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "platform": platform.platform(),
        "host": platform.node(), "git": git_state(),
    }


@dataclass
class Start:
    """What ``record`` did: the run's id, this start's environment and what changed since the last one
    recorded (``None``: the first start; ``[]``: nothing changed, no entry added)."""

    run_id: str
    environment: dict
    changes: list[str] | None


def differences(before: dict, now: dict) -> list[str]:
    """``key: old -> new`` for each value that changed (git's commit shortened)."""
    def shown(value):
        if isinstance(value, dict) and "commit" in value:
            return value["commit"][:12] + (" with changes" if value.get("dirty") else "")
        return value

    return [f"{key}: {shown(before.get(key))} -> {shown(now.get(key))}" for key in sorted(before.keys() | now.keys())
            if before.get(key) != now.get(key)]


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"{path} cannot be read as a run's environment record ({type(exc).__name__}); move it "
                         f"away to continue this run") from None
    starts = data.get("starts") if isinstance(data, dict) else None
    if (not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("run_id"), str)
            or not isinstance(starts, list) or not starts or not all(isinstance(s, dict) for s in starts)):
        raise UsageError(f"{path} is not a shiftnet environment record (format {FORMAT}); move it away to continue "
                         f"this run")
    return data


def record(folder: Path, environment: dict, resumed: bool, command: list[str] | None = None) -> Start:
    """Add this start to ``folder/environment.json`` (created at the first start) unless the last start
    recorded ran in the same environment; a one-line UsageError if the file is not one of ours."""
    path = Path(folder) / FILE
    entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "resumed": resumed,
             "command": list(sys.argv if command is None else command), "environment": environment}
    if not path.exists():
        data = {"format": FORMAT, "run_id": uuid.uuid4().hex[:16], "starts": [entry]}
        atomic_write_text(path, json.dumps(data, indent=1) + "\n")
        return Start(data["run_id"], environment, None)
    data = _read(path)
    changes = differences(data["starts"][-1].get("environment") or {}, environment)
    if changes:
        data["starts"].append(entry)
        atomic_write_text(path, json.dumps(data, indent=1) + "\n")
    return Start(data["run_id"], environment, changes)


def describe(environment: dict) -> str:
    """One line for train.log: versions, device, threads, code."""
    git = environment.get("git")
    code = (f"git {git['commit'][:12]}{' with uncommitted changes' if git['dirty'] else ''}" if git else
            "not a git checkout")
    extras = f", {environment['cupy']}" if environment.get("cupy") else ""
    device = environment["device"] + (f" ({environment['device_name']})" if environment.get("device_name") else "")
    return (f"python {environment['python']}, torch {environment['torch']}, torchvision {environment['torchvision']}, "
            f"shiftnet {environment['shiftnet']}{extras}; {device}, {environment['processes']} process(es), "
            f"{environment['cpus_usable']} of {environment['cpu_count']} CPUs, {environment['torch_threads']} torch "
            f"thread(s), OMP_NUM_THREADS={environment['omp_num_threads']}; {code}")
