"""A batched CIFAR loader that never starves the model: data on the model's device, whole-batch
augmentation, no worker processes, no PIL.

Augmentation is the seed's: random 32x32 crop of the image zero-padded by 4 (torchvision
``RandomCrop(32, padding=4)``: zero *before* normalisation), horizontal flip with p = 0.5, then
normalise. All randomness of an epoch (order, crop offsets, flips) is drawn up front on the CPU
from a generator seeded with (seed, epoch), so an epoch is identical on CPU and GPU and a run can
resume at any batch. Under DDP each rank takes the DistributedSampler share of the permutation
(padded by wrapping to a multiple of the world size, rank r takes every world-th index from r);
evaluation shards are not padded, so every test image counts exactly once.
The last partial batch is kept, as in the seed (50,000 = 390 x 128 + 80).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator

import torch

PAD = 4


@dataclass
class EpochPlan:
    """The random choices of one epoch for one rank: sample indices, crop offsets, flips."""

    indices: torch.Tensor  # int64 (n,)
    offsets: torch.Tensor  # int64 (n, 2): top, left in [0, 2*PAD]
    flips: torch.Tensor  # bool (n,)


def epoch_plan(num_samples: int, seed: int, epoch: int, train: bool, rank: int = 0, world_size: int = 1) -> EpochPlan:
    generator = torch.Generator().manual_seed(hash_seed(seed, epoch))
    if train:
        order = torch.randperm(num_samples, generator=generator)
    else:
        order = torch.arange(num_samples)
    per_rank = math.ceil(num_samples / world_size)
    total = per_rank * world_size if train else num_samples  # evaluation: every sample exactly once
    if total > num_samples:
        order = torch.cat([order, order[: total - num_samples]])
    # crops and flips are drawn for the whole padded epoch, then sharded like the order
    offsets = torch.randint(0, 2 * PAD + 1, (total, 2), generator=generator)
    flips = torch.rand(total, generator=generator) < 0.5
    shard = slice(rank, total, world_size)
    return EpochPlan(order[shard], offsets[shard], flips[shard])


def hash_seed(seed: int, epoch: int) -> int:
    """A distinct, stable 63-bit seed per (seed, epoch)."""
    return (seed * 1_000_003 + epoch * 7_919 + 12_345) % (2**63 - 1)


def augment(images: torch.Tensor, offsets: torch.Tensor, flips: torch.Tensor) -> torch.Tensor:
    """Crop 32x32 at ``offsets`` from uint8 images zero-padded by 4, flip where ``flips``."""
    n, c, h, w = images.shape
    padded = torch.nn.functional.pad(images, (PAD, PAD, PAD, PAD))
    offsets = offsets.to(images.device)
    rows = (offsets[:, 0:1] + torch.arange(h, device=images.device)).view(n, 1, h, 1)
    cols = torch.arange(w, device=images.device).view(1, w)
    cols = torch.where(flips.to(images.device).view(n, 1), (w - 1) - cols, cols) + offsets[:, 1:2]
    batch = torch.arange(n, device=images.device).view(n, 1, 1, 1)
    channel = torch.arange(c, device=images.device).view(1, c, 1, 1)
    return padded[batch, channel, rows, cols.view(n, 1, 1, w)]


class CifarLoader:
    """Iterates (inputs, labels) batches of one epoch; ``set_epoch`` as with DistributedSampler."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int, train: bool,
                 mean, std, device: torch.device | str = "cpu", seed: int = 0, rank: int = 0, world_size: int = 1,
                 channels_last: bool = False, dtype: torch.dtype = torch.float32):
        if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] != 3:
            raise ValueError("images must be uint8 N x 3 x H x W")
        if batch_size < 1:
            raise ValueError(f"batch size must be >= 1, got {batch_size}")
        self.device = torch.device(device)
        self.images = images.to(self.device)
        self.labels = labels.to(self.device)
        self.batch_size = batch_size
        self.train = train
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.channels_last = channels_last
        self.dtype = dtype
        self.mean = torch.tensor(mean, device=self.device, dtype=torch.float32).view(1, 3, 1, 1) * 255
        self.std = torch.tensor(std, device=self.device, dtype=torch.float32).view(1, 3, 1, 1) * 255
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    @property
    def samples_per_epoch(self) -> int:
        if self.train:
            return math.ceil(len(self.images) / self.world_size)
        return len(range(self.rank, len(self.images), self.world_size))

    def __len__(self) -> int:
        return math.ceil(self.samples_per_epoch / self.batch_size)

    def batches(self, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Batches of the current epoch from batch index ``start`` (for mid-epoch resume)."""
        plan = epoch_plan(len(self.images), self.seed, self.epoch, self.train, self.rank, self.world_size)
        for first in range(start * self.batch_size, len(plan.indices), self.batch_size):
            batch = slice(first, first + self.batch_size)
            index = plan.indices[batch].to(self.device)
            images = self.images[index]
            if self.train:
                images = augment(images, plan.offsets[batch], plan.flips[batch])
            inputs = (images.float() - self.mean) / self.std
            if self.channels_last:
                inputs = inputs.contiguous(memory_format=torch.channels_last)
            yield inputs.to(self.dtype), self.labels[index]

    def __iter__(self):
        return self.batches()
