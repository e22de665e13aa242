"""Channel -> displacement map of the original shift kernel (docs/original.md#shift).

The original CUDA kernel assigns shift directions *interleaved* (channel index mod k²), not in
contiguous groups as the paper's prose suggests, and leaves the last ``C mod k²`` channels
unshifted. Pretrained weights only reproduce their accuracy under exactly this map, so every shift
implementation in this package (PyTorch path, CUDA kernel, tests) derives its offsets from here.
"""

from __future__ import annotations


def validate_shift_args(kernel_size: int, dilation: int) -> None:
    """Raise ValueError unless ``kernel_size`` is a positive odd int and ``dilation`` >= 1."""
    if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be a positive odd integer (1, 3, 5, ...), got {kernel_size!r}")
    if isinstance(dilation, bool) or not isinstance(dilation, int) or dilation < 1:
        raise ValueError(f"dilation must be an integer >= 1, got {dilation!r}")


def group_offset(group: int, kernel_size: int, dilation: int) -> tuple[int, int]:
    """(dy, dx) of shift group ``group`` in [0, k²): row i = group // k, column j = group % k."""
    half = kernel_size // 2
    i, j = divmod(group, kernel_size)
    return dilation * (i - half), dilation * (j - half)


def shifted_channels(channels: int, kernel_size: int) -> int:
    """Cs = floor(C / k²) · k²: how many leading channels are shifted; the rest pass through."""
    groups = kernel_size * kernel_size
    return (channels // groups) * groups


def channel_offsets(channels: int, kernel_size: int = 3, dilation: int = 1) -> list[tuple[int, int]]:
    """Per-channel (dy, dx) such that ``Y[c, y, x] = X[c, y + dy, x + dx]`` (zero outside).

    Channel c < Cs belongs to group ``c mod k²``; channels c >= Cs get (0, 0).
    """
    validate_shift_args(kernel_size, dilation)
    groups = kernel_size * kernel_size
    cs = shifted_channels(channels, kernel_size)
    return [group_offset(c % groups, kernel_size, dilation) if c < cs else (0, 0) for c in range(channels)]
