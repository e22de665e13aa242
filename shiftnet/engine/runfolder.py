"""A run folder's rules: who may write in it, what it must hold to start or resume, what a crash left.

A folder is only ever written by one process: ``.lock`` holds the owner's pid under an exclusive
``flock``, which the kernel drops when its owner dies, however it dies, so a lock left by ``kill -9``
is stale by construction and is taken over. Files a run writes are never overwritten by another run:
a folder holding any of them but no ``last.pt`` is refused, while a folder with no progress in it
(at most ``config.yaml`` and the records of its starts, ``environment.json`` and ``train.log``, as
a failure before the first epoch ends leaves them) is reused: the records are appended to, never
rewritten, so they are not outputs that refuse a folder. Temporary files of an atomic write that a
killed process left behind are removed by the next owner.

Whether a ``last.pt`` can be resumed is ``checkpoint.RunState`` (its schema) and ``engine.state``
(its config and weights against the command's): the folder's rules end at the files' names.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
from pathlib import Path

from ..checkpoint import METRIC_FIELDS
from ..errors import UsageError
from ..fileio import atomic_write_text, pid_alive

try:
    import fcntl
except ImportError:  # not POSIX: a lock is stale when its pid no longer runs
    fcntl = None

LOCK = ".lock"
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)  # a .lock that is a symlink must not make us write its target
OUTPUTS = ("last.pt", "metrics.csv", "best.safetensors", "final.safetensors", "tensorboard")
RECORDS = ("config.yaml", "environment.json", "train.log")  # rewritten (config.yaml) or appended at each start
WRITTEN = (*RECORDS, *OUTPUTS)


def _plural(names: list[str]) -> str:
    return ", ".join(names)


def check_folder(folder: Path, resume: bool, lock: bool = True) -> None:
    """May a run start (``resume`` False) or continue in ``folder``? Reads only; one-line UsageError if not.
    ``lock``: also refuse a folder that a live run holds (not for DDP ranks > 0, whose rank 0 holds it)."""
    for path in (folder, *folder.parents):
        if path.exists() and not path.is_dir():
            raise UsageError(f"{path} is a file, so {folder} cannot be a run folder; choose another --out / --name")
    owner = lock_owner(folder) if lock else None
    if owner is not None:
        raise _busy(folder, owner)
    outputs = [name for name in OUTPUTS if (folder / name).exists()]
    if resume:
        if (folder / "last.pt").is_file():
            return
        if outputs:
            raise UsageError(f"--resume: {folder} has no last.pt to resume from, but holds {_plural(outputs)} of an "
                             f"earlier run, which are never overwritten; choose another --out / --name")
        raise UsageError(f"--resume: no last.pt in {folder}; start without --resume")
    if "last.pt" in outputs:
        raise UsageError(f"{folder} already holds a run (last.pt); continue it with --resume, or choose another "
                         f"--name / --out")
    if outputs:
        raise UsageError(f"{folder} holds {_plural(outputs)} of an earlier run, which are never overwritten; choose "
                         f"another --out / --name, or move them away")


def create_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create the run folder {folder}: {exc.strerror or exc}; choose another "
                         f"--out / --name") from None


def _recorded_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def lock_owner(folder: Path) -> int | None:
    """The pid of a live process that holds ``folder``'s lock, or None; creates nothing."""
    path = folder / LOCK
    if fcntl is None:
        pid = _recorded_pid(path)
        return pid if pid is not None and pid != os.getpid() and pid_alive(pid) else None
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return _recorded_pid(path) or -1
    finally:
        os.close(fd)
    return None


def _busy(folder: Path, pid: int | None) -> UsageError:
    who = f"pid {pid}" if pid and pid > 0 else "another process"
    return UsageError(f"{folder} is in use by another shiftnet run ({who}); wait for it to end or stop it first "
                      f"(a second process would overwrite its files)")


class RunLock:
    """Held by the one process that writes ``folder`` (rank 0 under DDP) from start to end of a run."""

    def __init__(self, folder: Path):
        self.path = Path(folder) / LOCK
        self.fd: int | None = None
        self.stale_pid: int | None = None  # the dead owner whose lock was taken over, if any

    def acquire(self) -> "RunLock":
        while True:
            previous = _recorded_pid(self.path)
            if fcntl is None and previous is not None and previous != os.getpid() and pid_alive(previous):
                raise _busy(self.path.parent, previous)
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | _NOFOLLOW, 0o644)
            except OSError as exc:
                what = ("is a symbolic link, not a lock file: move it away" if self.path.is_symlink() else
                        f"cannot be written: {exc.strerror or exc}")
                raise UsageError(f"{self.path} {what}") from None
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    os.close(fd)
                    raise _busy(self.path.parent, _recorded_pid(self.path)) from None
                # its last owner may have removed the file between our open and flock: lock the new one
                try:
                    same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
                except FileNotFoundError:
                    same = False
                if not same:
                    os.close(fd)
                    continue
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            self.fd = fd
            self.stale_pid = previous if previous not in (None, os.getpid()) else None
            return self

    def release(self) -> None:
        if self.fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        os.close(self.fd)
        self.fd = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def remove_leftovers(folder: Path) -> list[str]:
    """Temporary files of atomic writes (``.last.pt.x1y2.tmp``) that a killed owner left; call with the lock held."""
    removed = []
    for path in sorted(Path(folder).glob(".*.tmp")):
        if path.is_file() and any(path.name.startswith(f".{name}.") for name in WRITTEN):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path.name)
    return removed


def write_metrics(folder: Path, history: list[dict]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=METRIC_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({k: (f"{row[k]:.6g}" if isinstance(row[k], float) else row[k]) for k in METRIC_FIELDS})
    atomic_write_text(folder / "metrics.csv", buffer.getvalue())
