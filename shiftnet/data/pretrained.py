"""Registry (``pretrained.json``, data not code) and download of pretrained checkpoint archives.

An archive is fetched like a data set (``.part`` + resume + retries), its sha256 checked where the
registry knows it (and printed where it does not, so it can be recorded), then unpacked with the
same safety rules into ``<to>/<name>/`` through a staging folder and a marker written last.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..errors import UsageError
from ..fileio import atomic_write_text, file_digest
from .archives import extract, remove_tree, same_filesystem_move
from .fetch import Progress, download, is_url, local_source

MARKER = ".shiftnet-verified.json"


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


def resolve_names(name: str) -> list[PretrainedArchive]:
    entries = registry()
    if name == "all":
        return list(entries.values())
    if name not in entries:
        raise UsageError(f"unknown checkpoint archive {name!r}; choose one of {', '.join(entries)} or all")
    return [entries[name]]


def fetch_archive(entry: PretrainedArchive, to_dir: Path, source: str | None, progress: Progress | None) -> dict:
    """Download (or take) one archive, verify its sha256 if known, unpack it; returns a record."""
    target_folder = to_dir / entry.name
    if (target_folder / MARKER).is_file():
        record = json.loads((target_folder / MARKER).read_text())
        return {**record, "status": "already unpacked"}
    if source is not None and not is_url(source):
        archive = local_source(source)
    elif source is not None and source.startswith("file://"):
        archive = local_source(source)
    else:
        archive = to_dir / entry.file
        if not archive.is_file():
            download([source or entry.url], archive, progress)
    digest = file_digest(archive)
    if entry.sha256 is not None and digest != entry.sha256:
        raise UsageError(f"{archive.name} has sha256 {digest}, expected {entry.sha256}: delete it and download again")
    staging = to_dir / f".{entry.name}.staging-{os.getpid()}"
    remove_tree(staging)
    try:
        files = extract(archive, staging)
        record = {"name": entry.name, "archive": archive.name, "sha256": digest, "sha256_known": entry.sha256 is not None,
                  "files": files, "unpacked_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        atomic_write_text(staging / MARKER, json.dumps(record, indent=2))
        same_filesystem_move(staging, target_folder)
    finally:
        remove_tree(staging)
    return {**record, "status": "unpacked", "folder": str(target_folder)}
