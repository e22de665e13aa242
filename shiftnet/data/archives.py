"""Safe extraction of tar and zip archives: nothing may land outside the target folder.

Every member is checked before anything is written: absolute paths, ``..`` components, symbolic
and hard links, device files and FIFOs are refused (the whole archive, with one line naming the
member). Truncated or non-archive files become a UsageError instead of a traceback.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from ..errors import UsageError
from ..fileio import disk_error


def _check_member_name(name: str, archive: Path) -> PurePosixPath:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise UsageError(f"refusing archive {archive.name}: member {name!r} has an absolute path")
    if ".." in path.parts:
        raise UsageError(f"refusing archive {archive.name}: member {name!r} would be written outside the target folder")
    return path


def _write_members(archive: Path, target: Path, members) -> list[str]:
    """Write (name, is_dir, open_source) members, already checked, below ``target``."""
    written = []
    for name, is_dir, open_source in members:
        destination = target / _check_member_name(name, archive)
        if is_dir:
            destination.mkdir(parents=True, exist_ok=True)
            continue
        destination.parent.mkdir(parents=True, exist_ok=True)
        with open_source() as source, open(destination, "wb") as out:
            shutil.copyfileobj(source, out, 1 << 20)
        written.append(name)
    return written


def extract_tar(archive: Path, target: Path) -> list[str]:
    """Extract regular files and folders of a (possibly gzipped) tar into ``target``.

    Two streaming passes: the first checks every member (so a bad archive writes nothing), the
    second extracts; streaming keeps a .tar.gz at one decompression per pass.
    """
    try:
        with tarfile.open(archive, "r|*") as tar:
            for member in tar:
                _check_member_name(member.name, archive)
                if not (member.isfile() or member.isdir()):
                    kind = "link" if (member.issym() or member.islnk()) else "special file"
                    raise UsageError(f"refusing archive {archive.name}: member {member.name!r} is a {kind}")
        with tarfile.open(archive, "r|*") as tar:
            written = _write_members(archive, target, ((m.name, m.isdir(), lambda m=m: tar.extractfile(m)) for m in tar))
    except (tarfile.TarError, EOFError, zlib_error()) as exc:
        raise UsageError(f"{archive.name} is not a complete tar archive ({exc}); download it again") from None
    except OSError as exc:
        raise disk_error(exc, target) from exc
    return written


def extract_zip(archive: Path, target: Path) -> list[str]:
    """Extract a zip into ``target`` with the same rules (links are refused by their mode bits)."""
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            for info in infos:
                _check_member_name(info.filename, archive)
                mode = (info.external_attr >> 16) & 0o170000
                if mode and mode not in (0o100000, 0o040000):
                    raise UsageError(f"refusing archive {archive.name}: member {info.filename!r} is a link or special file")
            written = _write_members(archive, target, ((i.filename, i.is_dir(), lambda i=i: zf.open(i)) for i in infos))
    except (zipfile.BadZipFile, EOFError, zlib_error()) as exc:
        raise UsageError(f"{archive.name} is not a complete zip archive ({exc}); download it again") from None
    except OSError as exc:
        raise disk_error(exc, target) from exc
    return written


def extract(archive: Path, target: Path) -> list[str]:
    """Extract by content (zip magic or tar), not by file name."""
    archive = Path(archive)
    if not archive.is_file():
        raise UsageError(f"archive {archive} does not exist")
    target.mkdir(parents=True, exist_ok=True)
    if zipfile.is_zipfile(archive):
        return extract_zip(archive, target)
    return extract_tar(archive, target)


def zlib_error():
    import zlib

    return zlib.error


def remove_tree(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


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
