"""The shift op in plain PyTorch: exact on every device and dtype, and fast on CPU.

Every output element is written exactly once into one ``empty_like`` allocation (so the output
keeps the input's memory format). Writing zeros first and copying after would double the write
traffic, and plain autograd over in-place slice copies makes the backward an order of magnitude
slower (docs/platform.md#shift-on-cpu); the backward is therefore this same routine with the displacement
negated (the exact adjoint), wired up in ``op.py``.

Fast path. Channel ``c = 9j + g`` with group ``g = k·i + jj`` reads pixel ``p + off(g)`` where
``off = d·(i−h)·W + d·(jj−h)``. Both the channel's base address and ``off`` are *linear* in
(j, i, jj), so one ``as_strided`` view of the input expresses every group's shifted window at once,
in NCHW and in channels_last alike. A single strided copy then moves the interior of every plane
(it streams through memory almost like ``clone()``); the few leftover pixels at the start and end
of each plane are copied per group, and the columns that wrapped around a row edge are zeroed.
Tensors where that does not apply (tiny images, overlapping strides) take a per-group slice path.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from .mapping import group_offset, shifted_channels


def _copy_shifted(dst: torch.Tensor, src: torch.Tensor, dy: int, dx: int) -> None:
    """dst[..., y, x] = src[..., y + dy, x + dx] where that lies inside the image, else 0."""
    height, width = src.shape[-2:]
    if abs(dy) >= height or abs(dx) >= width:
        dst.zero_()
        return
    y0, y1 = max(0, -dy), height - max(0, dy)
    x0, x1 = max(0, -dx), width - max(0, dx)
    dst[..., y0:y1, x0:x1].copy_(src[..., y0 + dy : y1 + dy, x0 + dx : x1 + dx])
    if y0 > 0:
        dst[..., :y0, :].zero_()
    if y1 < height:
        dst[..., y1:, :].zero_()
    if x0 > 0:
        dst[..., y0:y1, :x0].zero_()
    if x1 < width:
        dst[..., y0:y1, x1:].zero_()


def _shift_slices(out, x, cs, kernel_size, dilation, sign) -> None:
    """Per-group 2-D window copies: correct for any strides and sizes, slower on big tensors."""
    groups = kernel_size * kernel_size
    for group in range(groups):
        dy, dx = group_offset(group, kernel_size, dilation)
        _copy_shifted(out[:, group:cs:groups], x[:, group:cs:groups], sign * dy, sign * dx)


def _dense_layout(x: torch.Tensor) -> tuple[int, int] | None:
    """(channel stride, pixel stride) if ``x`` is packed NCHW or packed channels_last, else None."""
    _, channels, height, width = x.shape
    if x.is_contiguous():
        return height * width, 1
    if x.is_contiguous(memory_format=torch.channels_last):
        return 1, channels
    return None


def _strided_copy(out, x, sizes, dst_strides, src_strides, dst_offset, src_offset) -> None:
    """``out[view] = x[view]``; a source dim with a negative stride (the adjoint in channels_last)
    is unrolled, since ``as_strided`` takes no negative strides."""
    for dim, stride in enumerate(src_strides):
        if stride < 0:
            rest = lambda t: t[:dim] + t[dim + 1 :]  # noqa: E731
            for index in range(sizes[dim]):
                _strided_copy(
                    out, x, rest(sizes), rest(dst_strides), rest(src_strides),
                    dst_offset + index * dst_strides[dim], src_offset + index * stride,
                )
            return
    out.as_strided(sizes, dst_strides, dst_offset).copy_(x.as_strided(sizes, src_strides, src_offset))


def _planes(t: torch.Tensor, k: int, layout) -> torch.Tensor:
    """View of the shifted channels of dense ``t`` as (N, C/k², k, k, H, W): group index = (i, jj).

    Here and below the sample stride is taken from ``t`` itself, so ``t`` may be ``out[::n-1]``.
    """
    n, channels, height, width = t.shape
    cst, pst = layout
    m = channels // (k * k)
    return t.as_strided(
        (n, m, k, k, height, width),
        (t.stride(0), k * k * cst, k * cst, cst, width * pst, pst),
        t.storage_offset(),
    )


def _copy_windows(out, x, k, d, sign, layout, first: int, length: int) -> None:
    """One strided copy of pixels [first, first + length) of every shifted plane, all groups at once.

    Pixel p of a plane in group (i, jj) reads flat pixel p + off(i, jj) of the same channel; an
    index outside the plane reads a neighbouring plane, which the caller must overwrite.
    """
    n, channels, height, width = x.shape
    cst, pst = layout
    h = k // 2
    m = channels // (k * k)
    sizes = (n, m, k, k, length)
    src_strides = (x.stride(0), k * k * cst, k * cst + sign * d * width * pst, cst + sign * d * pst, pst)
    dst_strides = (out.stride(0), k * k * cst, k * cst, cst, pst)
    src_offset = x.storage_offset() + (first - sign * d * h * (width + 1)) * pst
    _strided_copy(out, x, sizes, dst_strides, src_strides, out.storage_offset() + first * pst, src_offset)


def _copy_plane_ends(out, x, cs, k, d, sign, layout, reach: int) -> None:
    """Per group, the first and last ``reach`` pixels of each plane, with zero where out of range."""
    n, channels, height, width = x.shape
    cst, pst = layout
    hw = height * width
    flat_out = out.as_strided((n, channels, hw), (out.stride(0), cst, pst), out.storage_offset())
    flat_x = x.as_strided((n, channels, hw), (x.stride(0), cst, pst), x.storage_offset())
    groups = k * k
    for group in range(groups):
        dy, dx = group_offset(group, k, d)
        off = sign * (dy * width + dx)
        o, s = flat_out[:, group:cs:groups], flat_x[:, group:cs:groups]
        lo, hi = max(0, -off), hw - max(0, off)  # output pixels whose source index is inside the plane
        o[..., lo:reach].copy_(s[..., lo + off : reach + off])
        o[..., hw - reach : hi].copy_(s[..., hw - reach + off : hi + off])
        if lo:
            o[..., :lo].zero_()
        if hi < hw:
            o[..., hi:].zero_()


def _zero_out_of_range(out, k, d, sign, layout, rows: bool) -> None:
    """Zero each group's wrapped columns and, with ``rows``, its out-of-image border rows."""
    _, _, height, width = out.shape
    h = k // 2
    planes = _planes(out, k, layout)
    for index in range(k):
        step = sign * d * (index - h)
        if rows and step > 0:
            planes[:, :, index, :, height - step :, :].zero_()
        elif rows and step < 0:
            planes[:, :, index, :, :-step, :].zero_()
        if step > 0:
            planes[:, :, :, index, :, width - step :].zero_()
        elif step < 0:
            planes[:, :, :, index, :, :-step].zero_()


def _shift_strided(out, x, cs, kernel_size, dilation, sign, layout) -> None:
    """The fast path described in the module docstring; ``out`` and ``x`` share ``layout``.

    Samples 1..N-2 copy whole planes (reads that run off a plane land in a neighbouring plane of
    the same tensor and are then overwritten with zeros: whole border rows and wrapped columns;
    doing this a few samples at a time, so the zeroing hits cache, measured no faster). The first
    and last sample cannot read past the tensor, so they copy the plane interior and handle each
    plane's ends per group.
    """
    n, _, height, width = x.shape
    k, d = kernel_size, dilation
    hw = height * width
    reach = d * (k // 2) * (width + 1)  # the largest |pixel offset| of any group
    if n > 2:
        _copy_windows(out[1:-1], x[1:-1], k, d, sign, layout, 0, hw)
        _zero_out_of_range(out[1:-1], k, d, sign, layout, rows=True)
    ends_out, ends_x = (out[:: n - 1], x[:: n - 1]) if n > 1 else (out, x)  # first and last sample, one view
    _copy_windows(ends_out, ends_x, k, d, sign, layout, reach, hw - 2 * reach)
    _copy_plane_ends(ends_out, ends_x, cs, k, d, sign, layout, reach)
    _zero_out_of_range(ends_out, k, d, sign, layout, rows=False)


def shift_torch(x: torch.Tensor, kernel_size: int, dilation: int, transpose: bool = False) -> torch.Tensor:
    """Shift ``x`` (N, C, H, W) as the original does (docs/original.md#shift); ``transpose`` applies the adjoint.

    Arguments are assumed validated by the public wrapper (``shiftnet.kernels.shift``).
    """
    out = torch.empty_like(x)
    _, channels, height, width = x.shape
    cs = shifted_channels(channels, kernel_size)
    if cs < channels:
        out[:, cs:].copy_(x[:, cs:])
    if cs == 0 or x.numel() == 0:
        return out
    sign = -1 if transpose else 1
    reach = dilation * (kernel_size // 2)
    layout = _dense_layout(x)
    fits = reach < height and reach < width and 2 * reach * (width + 1) < height * width
    if layout is not None and fits and _dense_layout(out) == layout:
        _shift_strided(out, x, cs, kernel_size, dilation, sign, layout)
    else:
        _shift_slices(out, x, cs, kernel_size, dilation, sign)
    return out


@functools.lru_cache(maxsize=64)
def _one_hot_weight(channels: int, kernel_size: int, transpose: bool, dtype: torch.dtype,
                    device: torch.device) -> torch.Tensor:
    weight = torch.zeros(channels, 1, kernel_size, kernel_size)
    half = kernel_size // 2
    groups = kernel_size * kernel_size
    cs = shifted_channels(channels, kernel_size)
    for c in range(channels):
        i, j = divmod(c % groups, kernel_size) if c < cs else (half, half)
        if transpose:
            i, j = kernel_size - 1 - i, kernel_size - 1 - j
        weight[c, 0, i, j] = 1.0
    return weight.to(dtype=dtype, device=device)


def shift_conv(x: torch.Tensor, kernel_size: int, dilation: int, transpose: bool = False) -> torch.Tensor:
    """The shift as a depthwise conv with one-hot kernels (exact for finite inputs only, see op.py)."""
    weight = _one_hot_weight(x.shape[1], kernel_size, transpose, x.dtype, x.device)
    return F.conv2d(x, weight, padding=dilation * (kernel_size // 2), dilation=dilation, groups=x.shape[1])
