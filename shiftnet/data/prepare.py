"""``shiftnet download cifar10|cifar100``: obtain, extract safely, verify, then mark ready.

Order matters for "nothing partial ever looks valid": the archive is extracted into a hidden
temporary folder, every file is verified there, the marker is written inside it, and only then is
the folder renamed into place (replacing any older, unverified copy). Any failure removes the
temporary folder and leaves the previous state as it was.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from ..errors import RunError, UsageError
from ..fileio import atomic_write_text, file_digest
from .archives import extract, remove_tree, same_filesystem_move
from .datasets import MARKER, DatasetInfo, get_dataset, ready_splits, verify_folder
from .fetch import Progress, download, is_url, local_source


def prepare_dataset(name: str, data_dir: Path, source: str | None = None, progress: Progress | None = None) -> dict:
    """Make ``data_dir/<folder>`` a verified copy of the data set; returns what was done."""
    info = get_dataset(name)
    data_dir = Path(data_dir)
    splits = ready_splits(data_dir, info)
    if {"train", "test"} <= set(splits):
        return {"status": "already verified", "folder": str(data_dir / info.folder), "splits": splits}
    archive, official = _obtain_archive(info, data_dir, source, progress)
    if official:
        digest = file_digest(archive, "md5")
        if digest != info.archive_md5:
            archive.unlink()
            raise UsageError(f"downloaded {info.archive} has md5 {digest}, not the official {info.archive_md5}; "
                             f"deleted it: rerun, or pass --from with a good copy")
    splits = install_archive(info, archive, data_dir, source or "official URL")
    return {"status": "verified", "folder": str(data_dir / info.folder), "splits": splits, "archive": str(archive)}


def _obtain_archive(info: DatasetInfo, data_dir: Path, source: str | None, progress) -> tuple[Path, bool]:
    if source is not None and not is_url(source):
        return local_source(source), False
    if source is not None and source.startswith("file://"):
        return local_source(source), False
    target = data_dir / info.archive
    if source is None and target.is_file():
        return target, True  # a completed earlier download; its md5 is checked like a fresh one
    urls = [source] if source is not None else list(info.urls) + mirror_urls(info)
    return download(urls, target, progress), source is None


def mirror_urls(info: DatasetInfo) -> list[str]:
    """Extra mirrors from $SHIFTNET_CIFAR_MIRRORS (comma-separated base URLs), tried after the official
    host; the archive from any of them is held to the official archive md5."""
    bases = [b.strip() for b in os.environ.get("SHIFTNET_CIFAR_MIRRORS", "").split(",") if b.strip()]
    return [base.rstrip("/") + "/" + info.archive for base in bases]


def install_archive(info: DatasetInfo, archive: Path, data_dir: Path, origin: str) -> list[str]:
    """Extract + verify in a temporary folder, write the marker, then move it into place."""
    data_dir.mkdir(parents=True, exist_ok=True)
    staging = data_dir / f".{info.folder}.staging-{os.getpid()}"
    remove_tree(staging)
    try:
        extract(archive, staging)
        folder = staging / info.folder
        if not folder.is_dir():
            raise UsageError(f"{archive.name} does not contain {info.folder}/: it is not the {info.name} python-version archive")
        splits = verify_folder(folder, info)
        record = {"dataset": info.name, "splits": splits, "files": {n: m for n, m in info.all_files.items() if (folder / n).is_file()},
                  "source": origin, "verified_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        atomic_write_text(folder / MARKER, json.dumps(record, indent=2))
        same_filesystem_move(folder, data_dir / info.folder)
        return splits
    finally:
        remove_tree(staging)


def ensure_dataset(name: str, data_dir: Path, split: str, progress: Progress | None = None) -> None:
    """Download on first use (what the quick start relies on) unless the split is already there."""
    info = get_dataset(name)
    if split not in ready_splits(Path(data_dir), info):
        try:
            prepare_dataset(name, Path(data_dir), None, progress)
        except RunError as exc:
            raise RunError(f"{info.name} is not in {data_dir} and could not be downloaded ({exc}); "
                           f"fetch it with `shiftnet download {info.name} --to {data_dir} --from ARCHIVE_OR_URL`") from None
