"""Safe extraction of tar and zip archives: nothing lands outside the target folder, nothing unbounded.

Every member is checked before anything is written: absolute paths, ``..`` components, symbolic
and hard links, device files and FIFOs are refused (the whole archive, with one line naming the
member). Truncated or non-archive files become a UsageError instead of a traceback.

Each caller passes ``Limits`` that a real archive never reaches (total unpacked bytes, member
count). They are enforced while the headers are read, before the disk is touched, and again while
writing (a file that changes between the two passes gains nothing); the free disk space is checked
against the unpacked size up front. A tar is decompressed here, through a reader that stops at the
limit, so neither a gzip bomb nor a giant pax header can make tarfile read without end.
"""

from __future__ import annotations

import bz2
import glob
import gzip
import lzma
import os
import re
import shutil
import socket
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..errors import RunError, UsageError
from ..fileio import disk_error, pid_alive
from .fetch import size_text

_HOST = re.sub(r"[^A-Za-z0-9_.-]", "_", socket.gethostname()) or "host"  # a name part, like a pid

# What a tar stream may add to its members' bytes: 512-byte headers and padding per member, and
# pax/GNU long-name headers; generous, since it only bounds how far a hostile stream is read.
_TAR_OVERHEAD_PER_MEMBER = 64 << 10


@dataclass(frozen=True)
class Limits:
    """Most bytes an archive may unpack to, and most members (files, folders) it may hold."""

    max_bytes: int
    max_members: int
    what: str  # "a CIFAR archive", for messages


# The CIFAR python-version archives unpack to about 180 MB in 9 members.
CIFAR_LIMITS = Limits(max_bytes=512 << 20, max_members=1000, what="a CIFAR archive")
# The original checkpoint zips hold a few dozen .t7 files of a few MB each.
CHECKPOINT_LIMITS = Limits(max_bytes=4 << 30, max_members=10_000, what="a checkpoint archive")


def _check_member_name(name: str, archive: Path) -> PurePosixPath:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise UsageError(f"refusing archive {archive.name}: member {_short(name)} has an absolute path")
    if ".." in path.parts:
        raise UsageError(f"refusing archive {archive.name}: member {_short(name)} "
                         f"would be written outside the target folder")
    return path


def _short(name: str, limit: int = 80) -> str:
    text = repr(name[: limit + 1])
    return text if len(name) <= limit else text[:-1] + "...'"


class _Budget:
    """Running count of members and bytes against the limits; one line when one is passed."""

    def __init__(self, archive: Path, limits: Limits):
        self.archive, self.limits = archive, limits
        self.members = 0
        self.bytes = 0

    def add(self, size: int) -> None:
        self.members += 1
        self.bytes += max(size, 0)
        if self.members > self.limits.max_members:
            raise UsageError(f"refusing archive {self.archive.name}: more than {self.limits.max_members} members, "
                             f"far more than {self.limits.what} holds")
        if self.bytes > self.limits.max_bytes:
            raise UsageError(f"refusing archive {self.archive.name}: it unpacks to more than "
                             f"{size_text(self.limits.max_bytes)}, far more than {self.limits.what} holds")


class _BoundedReader:
    """A read-only stream that refuses to hand out more than ``limit`` bytes in all."""

    def __init__(self, raw, limit: int, archive: Path, limits: Limits):
        self.raw, self.left = raw, limit
        self.archive, self.limits = archive, limits

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0 or size > self.left:
            size = self.left + 1
        data = self.raw.read(size)
        self.left -= len(data)
        if self.left < 0:
            raise UsageError(f"refusing archive {self.archive.name}: it unpacks to more than "
                             f"{size_text(self.limits.max_bytes)}, far more than {self.limits.what} holds")
        return data


def _open_decompressed(archive: Path):
    """The archive's bytes after gzip/bzip2/xz decompression, chosen by magic number, not name."""
    with open(archive, "rb") as probe:
        magic = probe.read(6)
    if magic.startswith(b"\x1f\x8b"):
        return gzip.open(archive, "rb")
    if magic.startswith(b"BZh"):
        return bz2.open(archive, "rb")
    if magic.startswith(b"\xfd7zXZ\x00"):
        return lzma.open(archive, "rb")
    return open(archive, "rb")


def _tar_stream(archive: Path, limits: Limits):
    raw = _open_decompressed(archive)
    limit = limits.max_bytes + _TAR_OVERHEAD_PER_MEMBER * (limits.max_members + 1)
    return raw, tarfile.open(fileobj=_BoundedReader(raw, limit, archive, limits), mode="r|")


def _write_members(archive: Path, target: Path, members, limits: Limits) -> list[str]:
    """Write (name, is_dir, size, open_source) members, already checked, below ``target``.

    A damaged archive is a UsageError (see ``_read``); errors writing become one disk-full or
    could-not-write line.
    """
    written = []
    budget = _Budget(archive, limits)
    for name, is_dir, size, open_source in members:
        budget.add(size)
        destination = target / _check_member_name(name, archive)
        try:
            if is_dir:
                destination.mkdir(parents=True, exist_ok=True)
                continue
            destination.parent.mkdir(parents=True, exist_ok=True)
            with open_source() as source, open(destination, "wb") as out:
                copied = 0
                while block := _read(source, archive):
                    copied += len(block)
                    if copied > size:  # the header lied: never write more than was counted
                        raise UsageError(f"refusing archive {archive.name}: member {_short(name)} "
                                         f"is longer than its header says")
                    out.write(block)
        except OSError as exc:
            raise disk_error(exc, destination) from exc
        written.append(name)
    return written


def _read(source, archive: Path) -> bytes:
    """A block of a member; a damaged archive (gzip errors are OSErrors) is a UsageError, so
    that every OSError left around the copy is a write error."""
    try:
        return source.read(1 << 20)
    except (OSError, EOFError, zlib.error, lzma.LZMAError, tarfile.TarError, zipfile.BadZipFile) as exc:
        raise UsageError(f"{archive.name} is not a complete archive ({exc}); download it again") from None


def _check_disk(target: Path, needed: int) -> None:
    """Refuse up front when the unpacked archive cannot fit next to ``target``."""
    probe = target
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        free = shutil.disk_usage(probe).free
    except OSError:
        return
    if needed > free:
        raise RunError(f"disk full: unpacking needs {size_text(needed)} but only {size_text(free)} is free in {probe}; "
                       f"free some space (or choose another folder) and rerun")


def extract_tar(archive: Path, target: Path, limits: Limits) -> list[str]:
    """Extract regular files and folders of a (possibly compressed) tar into ``target``.

    Two streaming passes: the first checks every member and the limits (so a bad archive writes
    nothing), the second extracts; streaming keeps a .tar.gz at one decompression per pass.
    """
    try:
        budget = _Budget(archive, limits)
        raw, tar = _tar_stream(archive, limits)
        with raw, tar:
            for member in tar:
                _check_member_name(member.name, archive)
                if not (member.isfile() or member.isdir()):
                    kind = "link" if (member.issym() or member.islnk()) else "special file"
                    raise UsageError(f"refusing archive {archive.name}: member {_short(member.name)} is a {kind}")
                budget.add(member.size if member.isfile() else 0)
        _check_disk(target, budget.bytes)
        raw, tar = _tar_stream(archive, limits)
        with raw, tar:
            written = _write_members(
                archive, target,
                ((m.name, m.isdir(), m.size if m.isfile() else 0, lambda m=m: tar.extractfile(m)) for m in tar), limits)
    except (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, OSError) as exc:
        raise UsageError(f"{archive.name} is not a complete tar archive ({exc}); download it again") from None
    return written


def _zip_entry_count(archive: Path) -> int | None:
    """Entries declared by the end-of-central-directory record, read before ZipFile builds one
    object per entry; None when the record cannot be read (ZipFile then reports the damage)."""
    try:
        with open(archive, "rb") as handle:
            record = zipfile._EndRecData(handle)  # noqa: SLF001 - the stdlib's own EOCD reader
    except (OSError, AttributeError):
        return None
    return None if not record else int(record[zipfile._ECD_ENTRIES_TOTAL])  # noqa: SLF001


def extract_zip(archive: Path, target: Path, limits: Limits) -> list[str]:
    """Extract a zip into ``target`` with the same rules (links are refused by their mode bits)."""
    entries = _zip_entry_count(archive)
    if entries is not None and entries > limits.max_members:
        raise UsageError(f"refusing archive {archive.name}: more than {limits.max_members} members, "
                         f"far more than {limits.what} holds")
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            budget = _Budget(archive, limits)
            for info in infos:
                _check_member_name(info.filename, archive)
                mode = (info.external_attr >> 16) & 0o170000
                if mode and mode not in (0o100000, 0o040000):
                    raise UsageError(f"refusing archive {archive.name}: member {_short(info.filename)} "
                                     f"is a link or special file")
                budget.add(0 if info.is_dir() else info.file_size)
            _check_disk(target, budget.bytes)
            return _write_members(
                archive, target, ((i.filename, i.is_dir(), i.file_size, lambda i=i: zf.open(i)) for i in infos), limits)
    except (zipfile.BadZipFile, EOFError, zlib.error, lzma.LZMAError, OSError) as exc:
        raise UsageError(f"{archive.name} is not a complete zip archive ({exc}); download it again") from None


def extract(archive: Path, target: Path, limits: Limits) -> list[str]:
    """Extract by content (zip magic or tar), not by file name, within ``limits``."""
    archive = Path(archive)
    if not archive.is_file():
        raise UsageError(f"archive {archive} does not exist")
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise disk_error(exc, target) from exc
    if zipfile.is_zipfile(archive):
        return extract_zip(archive, target, limits)
    return extract_tar(archive, target, limits)


def remove_tree(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


def staging_folder(parent: Path, name: str) -> Path:
    """Where this process extracts ``name`` before moving it into place. Named by host and pid, so a
    cleanup on a folder shared between machines can tell this machine's dead extractions from another
    machine's live ones (whose pids it cannot see)."""
    return Path(parent) / f".{name}.staging-{_HOST}-{os.getpid()}"


def remove_dead_staging(parent: Path, name: str) -> list[str]:
    """The staging folders of ``name`` in ``parent`` that extractions on this machine left when killed
    (their process no longer runs). Best effort: another host's folders, live ones, links, names it did
    not make and anything that cannot be removed are left alone. Returns the names removed."""
    pattern = re.compile(rf"\.{re.escape(name)}\.staging-(?:(?P<host>[A-Za-z0-9_.-]+)-)?(?P<pid>[0-9]{{1,10}})")
    removed = []
    for path in sorted(Path(parent).glob(f".{glob.escape(name)}.staging-*")):
        match = pattern.fullmatch(path.name)
        if match is None or match["host"] not in (None, _HOST):  # no host: an older shiftnet on this machine
            continue
        try:
            if path.is_dir() and not path.is_symlink() and not pid_alive(int(match["pid"])):
                shutil.rmtree(path)
                removed.append(path.name)
        except OSError:  # someone else's folder, or another cleaner got there first
            continue
    return removed


def same_filesystem_move(source: Path, target: Path) -> None:
    """Replace ``target`` with ``source`` (both folders), old target removed only afterwards."""
    backup = None
    if target.exists():
        backup = target.with_name(f".{target.name}.old")
        remove_tree(backup)
        os.replace(target, backup)
    os.replace(source, target)
    if backup is not None:
        remove_tree(backup)
