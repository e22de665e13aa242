"""Data: CIFAR-10/100 download + verification, fast tensor loading and batched augmentation."""

from .datasets import CIFAR10, CIFAR100, DATASETS, SEED_MEAN, SEED_STD, default_data_dir, get_dataset, load_split
from .loader import CifarLoader, epoch_plan
from .prepare import ensure_dataset, prepare_dataset

__all__ = ["CIFAR10", "CIFAR100", "DATASETS", "SEED_MEAN", "SEED_STD", "CifarLoader", "default_data_dir",
           "ensure_dataset", "epoch_plan", "get_dataset", "load_split", "prepare_dataset"]
