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


_WRITERS = """
import os, sys
import torch
from safetensors.torch import save_file
from shiftnet.errors import RunError
from shiftnet.fileio import atomic_path, atomic_write_bytes

folder = sys.argv[1]
atomic_write_bytes(folder + "/last.pt", b"good")
atomic_write_bytes(folder + "/final.safetensors", b"good")
weights = {"w": torch.zeros(256, 1024)}  # 1 MiB, into a 256 KiB file system
for name, write in (("last.pt", torch.save), ("final.safetensors", lambda t, p: save_file(t, str(p)))):
    try:
        with atomic_path(folder + "/" + name) as tmp:
            write(weights, tmp)
        print(name, "written")
    except RunError as exc:
        print(name, exc)
kept = [open(folder + "/" + name, "rb").read() for name in ("last.pt", "final.safetensors")]
print(sorted(os.listdir(folder)), *kept)
"""


def test_disk_full_inside_torch_save_and_safetensors_says_disk_full(tmp_path):
    """The real writers on a real full file system (a 256 KiB tmpfs in a user namespace)."""
    import shutil
    import subprocess
    import sys

    if shutil.which("unshare") is None:
        pytest.skip("needs unshare (util-linux) to mount a small tmpfs")
    folder = tmp_path / "full"
    folder.mkdir()
    shell = 'mount -t tmpfs -o size=256k tmpfs "$1" || exit 77; exec "$2" -c "$3" "$1"'
    run = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", shell, "sh", str(folder),
                          sys.executable, _WRITERS], capture_output=True, text=True, timeout=120)
    if run.returncode != 0 and ("unshare" in run.stderr or run.returncode == 77):
        pytest.skip(f"cannot mount a tmpfs here: {run.stderr.strip()[:100]}")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.strip().splitlines()
    assert lines[0].startswith("last.pt disk full while writing")
    assert lines[0].endswith("last.pt: free some space (or choose another folder) and rerun")
    assert lines[1].startswith("final.safetensors disk full while writing")
    assert lines[2] == "['final.safetensors', 'last.pt'] b'good' b'good'"  # old files kept, no temporaries


def test_weight_files_get_the_mode_of_the_other_files(tmp_path):
    import os
    import stat

    import torch
    from safetensors.torch import save_file

    from shiftnet.fileio import atomic_write_text

    old = os.umask(0o027)
    try:
        atomic_write_text(tmp_path / "metrics.csv", "epoch\n")
        with atomic_path(tmp_path / "final.safetensors") as tmp:
            save_file({"w": torch.ones(3)}, str(tmp))
        with atomic_path(tmp_path / "last.pt") as tmp:
            torch.save({"w": torch.ones(3)}, tmp)
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    assert modes == {"metrics.csv": 0o640, "final.safetensors": 0o640, "last.pt": 0o640}
