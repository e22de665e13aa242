"""``shiftnet download cifar10|cifar100``: obtain, extract safely, verify, then mark ready.

Order matters for "nothing partial ever looks valid": the archive is extracted into a hidden
temporary folder, every file is verified there, the marker is written inside it, and only then is
the folder renamed into place. Any failure removes the temporary folder and leaves the previous
state as it was.

Order matters as much for "nothing of the user's is lost": the per-file md5s (the test ``--from``
has always used) decide whether an archive is good, wherever it came from; the archive's own md5
is only recorded, since a re-packed copy of the official files is as good as the original. An
archive this run did not download (one already in the data folder, or ``--from``) is never
deleted, and neither is a data folder whose files fail verification: the message says what to move
away. Only an archive this run downloaded and found bad is deleted, before the next mirror.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from ..errors import RunError, UsageError
from ..fileio import atomic_write_text, file_digest
from .archives import CIFAR_LIMITS, extract, remove_dead_staging, remove_tree, same_filesystem_move, staging_folder
from .datasets import MARKER, DatasetInfo, check_folder, get_dataset, marker_state, ready_splits, verify_folder
from .fetch import Notice, Progress, download, is_url, local_source

# A CIFAR archive is about 170 MB; a server offering more than this is not serving one.
CIFAR_MAX_DOWNLOAD = 512 << 20


def prepare_dataset(name: str, data_dir: Path, source: str | None = None, progress: Progress | None = None,
                    notice: Notice | None = None) -> dict:
    """Make ``data_dir/<folder>`` a verified copy of the data set; returns what was done.

    ``status`` is "already verified", "verified in place" (files found in the folder passed) or
    "verified" (from an archive; ``downloaded`` says whether this run downloaded it).
    """
    info = get_dataset(name)
    data_dir = Path(data_dir)
    folder = data_dir / info.folder
    splits, changed = marker_state(data_dir, info)
    if not changed and {"train", "test"} <= set(splits):
        return {"status": "already verified", "folder": str(folder), "splits": splits}
    if changed or (not splits and _holds_files(folder)):
        splits = _verify_in_place(info, data_dir, changed)
        if {"train", "test"} <= set(splits):
            return {"status": "verified in place", "folder": str(folder), "splits": splits}
    result = {"status": "verified", "folder": str(folder)}
    if source is not None and (not is_url(source) or source.startswith("file://")):
        archive = local_source(source)
        return {**result, "splits": install_archive(info, archive, data_dir, str(archive)),
                "archive": str(archive), "downloaded": False}
    target = data_dir / info.archive
    if source is None and target.is_file():
        try:
            installed = install_archive(info, target, data_dir, f"{target} (already in the data folder)")
        except UsageError as exc:
            raise UsageError(f"{target} was already in the data folder and fails verification ({exc}); it was left as "
                             f"it is: move it away and rerun to download afresh, or pass --from a good copy") from None
        return {**result, "splits": installed, "archive": str(target), "downloaded": False}
    if target.exists():
        raise UsageError(f"{target} already exists and downloading {source} would replace it: "
                         f"pass --from {target} to use it, or move it away")
    urls = [source] if source is not None else list(info.urls) + mirror_urls(info)
    installed: list[str] = []

    def check(path: Path) -> None:
        installed[:] = install_archive(info, path, data_dir, str(path))

    download(urls, target, progress, max_bytes=CIFAR_MAX_DOWNLOAD, notice=notice, check=check)
    return {**result, "splits": installed, "archive": str(target), "downloaded": True}


def _holds_files(folder: Path) -> bool:
    try:
        return folder.is_dir() and any(folder.iterdir())
    except OSError:
        return False


def _verify_in_place(info: DatasetInfo, data_dir: Path, changed: str | None) -> list[str]:
    """md5 the files already in the data set folder (unpacked by hand, or changed since verified);
    mark them ready if they pass. A folder that fails is the user's to fix: it is never replaced."""
    folder = data_dir / info.folder
    splits, problems = check_folder(folder, info)
    if problems:
        why = f"changed after it was verified ({changed})" if changed else f"fails verification ({'; '.join(problems)})"
        raise UsageError(f"{folder} holds {info.name} files but {why}; it was left as it is: "
                         f"move it away (or restore the files) and rerun")
    write_marker(folder, info, splits, f"files already in {folder}")
    return splits


def mirror_urls(info: DatasetInfo) -> list[str]:
    """Extra mirrors from $SHIFTNET_CIFAR_MIRRORS (comma-separated base URLs), tried after the official
    host; what any of them serves is held to the official per-file md5s."""
    bases = [b.strip() for b in os.environ.get("SHIFTNET_CIFAR_MIRRORS", "").split(",") if b.strip()]
    return [base.rstrip("/") + "/" + info.archive for base in bases]


def write_marker(folder: Path, info: DatasetInfo, splits: list[str], origin: str, archive: Path | None = None) -> None:
    """The ready marker: splits, each file's md5 and size (sizes are checked at every load)."""
    present = [n for n in info.all_files if (folder / n).is_file()]
    record = {"dataset": info.name, "splits": splits, "files": {n: info.all_files[n] for n in present},
              "sizes": {n: (folder / n).stat().st_size for n in present}, "source": origin,
              "verified_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if archive is not None:
        digest = file_digest(archive, "md5")
        record.update(archive_md5=digest, official_archive=digest == info.archive_md5)
    atomic_write_text(folder / MARKER, json.dumps(record, indent=2))


def install_archive(info: DatasetInfo, archive: Path, data_dir: Path, origin: str) -> list[str]:
    """Extract + verify in a temporary folder, write the marker, then move it into place."""
    data_dir.mkdir(parents=True, exist_ok=True)
    remove_dead_staging(data_dir, info.folder)  # what killed extractions left, before this one starts
    staging = staging_folder(data_dir, info.folder)
    remove_tree(staging)
    try:
        extract(archive, staging, CIFAR_LIMITS)
        folder = staging / info.folder
        if not folder.is_dir():
            raise UsageError(f"{archive.name} does not contain {info.folder}/: "
                             f"it is not the {info.name} python-version archive")
        splits = verify_folder(folder, info)
        write_marker(folder, info, splits, origin, archive)
        target = data_dir / info.folder
        if _holds_files(target) and not ready_splits(data_dir, info):
            raise UsageError(f"{target} holds files that are not a verified {info.name} copy; "
                             f"it was left as it is: move it away and rerun")
        same_filesystem_move(folder, target)
        return splits
    finally:
        remove_tree(staging)


def _stderr_line(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def ensure_dataset(name: str, data_dir: Path, split: str, progress: Progress | None = None,
                   notice: Notice | None = _stderr_line) -> None:
    """Download on first use (what the quick start relies on) unless the split is already there.
    Mirror switches are reported on stderr unless another ``notice`` is given."""
    info = get_dataset(name)
    remove_dead_staging(Path(data_dir), info.folder)  # every training start: a killed download's leftovers
    splits, changed = marker_state(Path(data_dir), info)
    if changed or split not in splits:
        try:
            prepare_dataset(name, Path(data_dir), None, progress, notice)
        except RunError as exc:
            what = f"{info.name}'s {split} split" if splits and not changed else info.name
            raise RunError(f"{what} is not in {data_dir} and could not be downloaded ({exc}); "
                           f"fetch it with `shiftnet download {info.name} --to {data_dir} --from ARCHIVE_OR_URL`"
                           ) from None
