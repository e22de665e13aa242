"""Registry (``pretrained.json``, data not code) and download of pretrained checkpoint archives.

An archive is fetched like a data set (``.part`` + resume + retries + byte cap), its sha256 checked
where the registry knows it (and printed where it does not, so it can be recorded), then unpacked
with the same safety rules and size limits into ``<to>/<name>/`` through a staging folder and a
marker written last. The marker names the archive and lists its files, so a file unpacked here
is known by the registry entry it came from (``archive_of``): that is how an original ``.t7``,
which records no data set, is scored on the right one.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path, PurePosixPath

from ..data.archives import (
    CHECKPOINT_LIMITS,
    extract,
    remove_dead_staging,
    remove_tree,
    same_filesystem_move,
    staging_folder,
)
from ..data.datasets import MARKER
from ..data.fetch import Notice, Progress, download, is_url, local_source
from ..errors import UsageError
from ..fileio import atomic_write_text, file_digest


@dataclass(frozen=True)
class PretrainedArchive:
    name: str
    file: str
    dataset: str
    format: str
    url: str
    sha256: str | None
    description: str


def registry() -> dict[str, PretrainedArchive]:
    data = json.loads(resources.files(__package__).joinpath("pretrained.json").read_text())
    return {entry["name"]: PretrainedArchive(**entry) for entry in data["archives"]}


def archive_of(path: Path) -> PretrainedArchive | None:
    """The registry entry of the archive that ``path`` was unpacked from by ``fetch_archive``, or None:
    the nearest folder above it with a marker must name a registered archive and list the file."""
    path = Path(os.path.abspath(path))
    for folder in path.parents:
        if not (folder / MARKER).is_file():
            continue
        try:
            record = json.loads((folder / MARKER).read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(record, dict) or not isinstance(record.get("files"), list):
            return None  # a data set's marker, or not one of ours
        files = {PurePosixPath(name).as_posix() for name in record["files"] if isinstance(name, str)}
        entry = registry().get(str(record.get("name")))
        return entry if entry is not None and path.relative_to(folder).as_posix() in files else None
    return None


def resolve_names(name: str) -> list[PretrainedArchive]:
    entries = registry()
    if name == "all":
        return list(entries.values())
    if name not in entries:
        raise UsageError(f"unknown checkpoint archive {name!r}; choose one of {', '.join(entries)} or all")
    return [entries[name]]


def fetch_archive(entry: PretrainedArchive, to_dir: Path, source: str | None, progress: Progress | None,
                  notice: Notice | None = None) -> dict:
    """Download (or take) one archive, verify its sha256 if known, unpack it; returns a record.

    An archive this run did not download (``--from FILE``, or one already in ``to_dir``) is never
    deleted, whatever is wrong with it; one this run downloaded and found bad is.
    """
    target_folder = to_dir / entry.name
    if (target_folder / MARKER).is_file():
        try:
            record = json.loads((target_folder / MARKER).read_text())
            return {**record, "status": "already unpacked", "folder": str(target_folder)}
        except (OSError, ValueError, TypeError):
            raise UsageError(f"{target_folder / MARKER} is unreadable: move {target_folder} away and rerun") from None
    if target_folder.is_dir() and any(target_folder.iterdir()):
        raise UsageError(f"{target_folder} exists and was not unpacked by shiftnet (no {MARKER}): "
                         f"move it away and rerun")
    if source is not None and (not is_url(source) or source.startswith("file://")):
        return {**_unpack(entry, local_source(source), to_dir), "downloaded": False}
    archive = to_dir / entry.file
    if archive.is_file() and source is None:
        try:
            return {**_unpack(entry, archive, to_dir), "downloaded": False}
        except UsageError as exc:
            raise UsageError(f"{archive} was already there and {exc}; it was left as it is: "
                             f"move it away and rerun to download afresh") from None
    if archive.exists():
        raise UsageError(f"{archive} already exists and downloading {source} would replace it: "
                         f"pass --from {archive} to use it, or move it away")
    result: dict = {}

    def check(path: Path) -> None:
        result.update(_unpack(entry, path, to_dir))

    download([source or entry.url], archive, progress, notice=notice, check=check)
    return {**result, "downloaded": True}


def _unpack(entry: PretrainedArchive, archive: Path, to_dir: Path) -> dict:
    """sha256 check (where the registry knows it), then extraction through a staging folder."""
    target_folder = to_dir / entry.name
    digest = file_digest(archive)
    if entry.sha256 is not None and digest != entry.sha256:
        raise UsageError(f"{archive.name} has sha256 {digest}, expected {entry.sha256}")
    remove_dead_staging(to_dir, entry.name)  # what killed extractions left, before this one starts
    staging = staging_folder(to_dir, entry.name)
    remove_tree(staging)
    try:
        files = extract(archive, staging, CHECKPOINT_LIMITS)
        record = {"name": entry.name, "archive": archive.name, "sha256": digest,
                  "sha256_known": entry.sha256 is not None,
                  "files": files, "unpacked_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        atomic_write_text(staging / MARKER, json.dumps(record, indent=2))
        same_filesystem_move(staging, target_folder)
    finally:
        remove_tree(staging)
    return {**record, "status": "unpacked", "folder": str(target_folder)}
