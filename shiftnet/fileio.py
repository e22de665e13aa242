"""Atomic file writes: a crash, a full disk or Ctrl-C never leaves a half-written file in place.

Write to a temporary file in the same folder, flush and fsync, then ``os.replace`` over the target
(atomic on POSIX), and fsync the folder so the rename itself survives a power cut. On any error the
temporary file is removed and the previous version of the target, if any, is untouched.

Writers that are not plain ``open()`` report a full disk their own way: safetensors as a
SafetensorError naming "No space left on device", ``torch.save`` as a RuntimeError of its zip
writer with no errno at all (then the free space decides). Both become the same "disk full" line.
safetensors also replaces the file it is given by its own 0600 temporary, so the mode is set again
after the writer is done: every result gets the same umask-respecting mode.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from .errors import RunError


def disk_error(exc: OSError, path: Path | str) -> RunError:
    """Turn an OSError into one actionable line (ENOSPC gets its own advice)."""
    if exc.errno == errno.ENOSPC:
        return RunError(f"disk full while writing {path}: free some space (or choose another folder) and rerun")
    return RunError(f"could not write {path}: {exc.strerror or exc}")


def _full_disk_failure(exc: Exception, folder: Path) -> bool:
    """Whether a non-OSError from a writer library means the disk filled up."""
    text = str(exc)
    if "No space left on device" in text or "os error 28" in text:
        return True
    if isinstance(exc, RuntimeError) and ("inline_container" in text or "PytorchStreamWriter" in text):
        try:
            return shutil.disk_usage(folder).free < (1 << 20)
        except OSError:
            return False
    return False


@contextlib.contextmanager
def atomic_path(target: Path | str, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temp path next to ``target``; on success it replaces ``target`` atomically."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    mode = 0o666 & ~_umask()  # mkstemp makes 0600; results should be as readable as any other file
    os.chmod(tmp, mode)
    try:
        yield tmp
        os.chmod(tmp, mode)  # the writer may have replaced the file (safetensors does, with 0600)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    except OSError as exc:
        raise disk_error(exc, target) from exc
    except Exception as exc:
        if _full_disk_failure(exc, target.parent):
            raise disk_error(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), target) from exc
        raise
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(target: Path | str, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(target: Path | str, text: str) -> None:
    atomic_write_bytes(target, text.encode())


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def file_digest(path: Path | str, algorithm: str = "sha256", chunk: int = 1 << 20) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine (someone else's counts): a lock's or a staging
    folder's owner. On Windows, signal 0 would be CTRL_C_EVENT sent to the console, so the process is
    opened and its exit code asked instead (not exercised by the Linux test suite)."""
    if pid <= 0:
        return False
    if os.name == "nt":
        return _windows_pid_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, it is someone else's
        return True
    except OSError:
        return False
    return True


def _windows_pid_alive(pid: int) -> bool:
    import ctypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return ctypes.get_last_error() == 5  # ERROR_ACCESS_DENIED: it exists, it is someone else's
    try:
        code = ctypes.c_ulong()
        return bool(kernel32.GetExitCodeProcess(handle, ctypes.byref(code))) and code.value == 259  # STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)
