"""Atomic writes: a failure mid-write (full disk, Ctrl-C) leaves the previous file exactly as it was."""

from __future__ import annotations

import errno

import pytest

from shiftnet.errors import RunError
from shiftnet.fileio import atomic_path, atomic_write_bytes


def test_failed_write_keeps_the_old_file_and_no_temp(tmp_path):
    target = tmp_path / "last.pt"
    atomic_write_bytes(target, b"good")
    with pytest.raises(RunError, match="disk full while writing .*last.pt"):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert target.read_bytes() == b"good"
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise KeyboardInterrupt
    assert target.read_bytes() == b"good" and [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_successful_write_replaces_and_is_readable(tmp_path):
    target = tmp_path / "sub" / "metrics.csv"
    atomic_write_bytes(target, b"a")
    atomic_write_bytes(target, b"b")
    assert target.read_bytes() == b"b" and (target.stat().st_mode & 0o044)  # not left 0600 like mkstemp
