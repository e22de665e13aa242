"""CIFAR-10 and CIFAR-100: where they come from, how to verify them, and how to load them fast.

A data set folder is *ready* only when its marker file exists; the marker is written last, after
every data file matched its official md5, so an interrupted download or extraction can never look
valid. The marker records each file's size, checked at every load, so data altered afterwards is
noticed instead of trained on. Loading reads the python-version pickles once, through a
restricted unpickler, into uint8 tensors: no PIL, no per-image Python.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..enums import DATASET_CLASSES
from ..errors import UsageError
from ..fileio import file_digest
from ..safe_pickle import load_restricted, numpy_array_globals

MARKER = ".shiftnet-verified.json"

# The seed (and kuangliu) normalise both data sets with these CIFAR-10 figures; the std is a mean of
# per-image stds, not the data set's std (docs/original.md#recipe). Each data set's true statistics are
# kept for ``data.normalization: true``.
SEED_MEAN = (0.4914, 0.4822, 0.4465)
SEED_STD = (0.2023, 0.1994, 0.2010)


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    num_classes: int
    folder: str
    archive: str
    archive_md5: str
    urls: tuple[str, ...]
    train_files: dict[str, str]
    test_files: dict[str, str]
    meta_files: dict[str, str]
    label_key: bytes
    true_mean: tuple[float, float, float]
    true_std: tuple[float, float, float]

    @property
    def all_files(self) -> dict[str, str]:
        return {**self.train_files, **self.test_files, **self.meta_files}


def _dataset(name: str, **fields) -> DatasetInfo:
    """The DatasetInfo of one of enums.DATASET_CLASSES (its name and class count come from there)."""
    return DatasetInfo(name=name, num_classes=DATASET_CLASSES[name], **fields)


CIFAR10 = _dataset(
    "cifar10", folder="cifar-10-batches-py", archive="cifar-10-python.tar.gz",
    archive_md5="c58f30108f718f92721af3b95e74349a",
    urls=("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
          "http://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"),
    train_files={
        "data_batch_1": "c99cafc152244af753f735de768cd75f", "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
        "data_batch_3": "54ebc095f3ab1f0389bbae665268c751", "data_batch_4": "634d18415352ddfa80567beed471001a",
        "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    },
    test_files={"test_batch": "40351d587109b95175f43aff81a1287e"},
    meta_files={"batches.meta": "5ff9c542aee3614f3951f8cda6e48888"},
    label_key=b"labels", true_mean=(0.4914, 0.4822, 0.4465), true_std=(0.2470, 0.2435, 0.2616),
)
CIFAR100 = _dataset(
    "cifar100", folder="cifar-100-python", archive="cifar-100-python.tar.gz",
    archive_md5="eb9058c3a382ffc7106e4002c42a8d85",
    urls=("https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
          "http://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"),
    train_files={"train": "16019d7e3df5f24257cddd939b257f8d"},
    test_files={"test": "f0ef6b0ae62326f3e7ffdfab6717acfc"},
    meta_files={"meta": "7973b15100ade9c7d40fb424638fde48"},
    label_key=b"fine_labels", true_mean=(0.5071, 0.4866, 0.4409), true_std=(0.2673, 0.2564, 0.2762),
)
DATASETS = {info.name: info for info in (CIFAR10, CIFAR100)}


def get_dataset(name: str) -> DatasetInfo:
    try:
        return DATASETS[name]
    except KeyError:
        raise UsageError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}") from None


def default_data_dir(data_dir: str | Path | None = None) -> Path:
    """--data-dir, else $SHIFTNET_DATA, else ./data (the original code's and torchvision's default)."""
    if data_dir is not None:
        return Path(data_dir)
    return Path(os.environ.get("SHIFTNET_DATA", "data"))


def check_folder(folder: Path, info: DatasetInfo) -> tuple[list[str], list[str]]:
    """md5 every data file present: (splits complete and correct, problems found)."""
    problems, splits = [], []
    for split, files in (("train", info.train_files), ("test", info.test_files), ("meta", info.meta_files)):
        present = [name for name in files if (folder / name).is_file()]
        if not present:
            continue
        if len(present) < len(files):
            missing = sorted(set(files) - set(present))
            problems.append(f"{split} files missing: {', '.join(missing)}")
            continue
        for name in present:
            if file_digest(folder / name, "md5") != files[name]:
                problems.append(f"{name} has the wrong md5")
        if split != "meta":
            splits.append(split)
    if not (folder / next(iter(info.meta_files))).is_file():
        problems.append(f"{next(iter(info.meta_files))} missing")
    if not splits and not problems:
        problems.append("no data files found")
    return splits, problems


def verify_folder(folder: Path, info: DatasetInfo) -> list[str]:
    """The splits of an unpacked archive's folder; wrong or missing files raise."""
    splits, problems = check_folder(folder, info)
    if problems:
        raise UsageError(f"{info.name} files in {folder} failed verification ({'; '.join(problems)}); "
                         f"the archive is corrupt or not the official data set")
    return splits


def marker_state(data_dir: Path, info: DatasetInfo) -> tuple[list[str], str | None]:
    """(splits the marker vouches for, what changed since) of ``data_dir/<folder>``.

    ([], None): no readable marker, the folder is not ready. A marker records each file's size at
    verification; a file that is missing or of another size now is reported as the second item
    (and its splits must not be used). Markers of older versions, without sizes, are trusted.
    """
    folder = data_dir / info.folder
    try:
        record = json.loads((folder / MARKER).read_text())
        splits = [s for s in record["splits"] if s in ("train", "test")]
    except (OSError, ValueError, KeyError, TypeError):
        return [], None
    sizes = record.get("sizes")
    if not isinstance(sizes, dict):
        return splits, None
    for name in info.all_files:
        if name not in sizes:
            continue
        try:
            actual = (folder / name).stat().st_size
        except OSError:
            return splits, f"{name} is missing"
        if actual != sizes[name]:
            return splits, f"{name} is {actual} bytes, not the {sizes[name]} it had when verified"
    return splits, None


def ready_splits(data_dir: Path, info: DatasetInfo) -> list[str]:
    """Splits recorded by the marker of a verified, unchanged folder; [] if the folder is not ready."""
    splits, changed = marker_state(Path(data_dir), info)
    return [] if changed else splits


def require_split(data_dir: Path, info: DatasetInfo, split: str) -> Path:
    splits, changed = marker_state(data_dir, info)
    if changed:
        raise UsageError(f"{info.name} data in {data_dir / info.folder} changed after it was verified ({changed}): "
                         f"restore the file, or move the folder away and run "
                         f"`shiftnet download {info.name} --to {data_dir}`")
    if split not in splits:
        if splits:
            hint = f"it holds only the {'/'.join(splits)} split; download the full archive"
        else:
            hint = f"run `shiftnet download {info.name} --to {data_dir}`"
        raise UsageError(f"{info.name} {split} split not found (verified) in {data_dir}: {hint}")
    return data_dir / info.folder


def _load_batch(path: Path, info: DatasetInfo) -> tuple[np.ndarray, list[int]]:
    record = load_restricted(path.read_bytes(), numpy_array_globals(), f"data file {path}", encoding="bytes")
    try:
        data, labels = record[b"data"], record[info.label_key]
    except (KeyError, TypeError):
        raise UsageError(f"{path} is not a CIFAR python-version batch (no data/labels)") from None
    return np.asarray(data, dtype=np.uint8).reshape(-1, 3, 32, 32), list(labels)


def load_split(data_dir: str | Path, name: str, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(images uint8 N x 3 x 32 x 32, labels int64 N) of a verified split, in the official order."""
    info = get_dataset(name)
    folder = require_split(Path(data_dir), info, "train" if train else "test")
    files = info.train_files if train else info.test_files
    images, labels = [], []
    for file in files:
        batch_images, batch_labels = _load_batch(folder / file, info)
        images.append(batch_images)
        labels.extend(batch_labels)
    return torch.from_numpy(np.concatenate(images)), torch.tensor(labels, dtype=torch.int64)
