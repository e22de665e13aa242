"""``shiftnet bench loader``: can the data pipeline keep up? Loader images/s against a model's
training images/s, measured side by side in one run on the same device."""

from __future__ import annotations

import time

import torch

from ..data import SEED_MEAN, SEED_STD, CifarLoader


def loader_images_per_s(images: torch.Tensor, labels: torch.Tensor, batch_size: int, device: torch.device,
                        epochs: int = 2, channels_last: bool = False) -> float:
    """Median over ``epochs`` full passes of the training loader (crop + flip + normalise)."""
    loader = CifarLoader(images, labels, batch_size, train=True, mean=SEED_MEAN, std=SEED_STD, device=device,
                         channels_last=channels_last)
    rates = []
    for epoch in range(epochs):
        loader.set_epoch(epoch)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        seen = 0
        for inputs, _ in loader:
            seen += inputs.shape[0]
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        rates.append(seen / (time.perf_counter() - start))
    return sorted(rates)[len(rates) // 2]
