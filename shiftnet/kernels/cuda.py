"""The shift op on CUDA: ``shift.cu`` compiled by CuPy (NVRTC) for the GPU present, at first use.

No build step and no architecture list: NVRTC compiles for whatever device runs, which removes the
original's ``invalid_device_function`` / ``sm_XX`` failures. Tensors cross to the kernel zero-copy
(raw device pointers) and the launch goes on PyTorch's current stream of the tensor's device, so it
orders correctly with surrounding PyTorch work without any device-wide synchronisation.
"""

from __future__ import annotations

import functools
import warnings
from importlib import resources

import torch

from .mapping import shifted_channels

_BITS = {torch.float16: "u16", torch.bfloat16: "u16", torch.float32: "u32", torch.float64: "u64"}
_VEC = {"u16": 8, "u32": 4, "u64": 2}  # elements per thread for 16-byte stores
THREADS = 256
_warned = False
_broken: str | None = None  # why the kernel could not be built, once it failed


class KernelUnavailable(RuntimeError):
    """CuPy is there but the kernel cannot be compiled or loaded on this GPU."""


def kernel_source() -> str:
    return resources.files(__package__).joinpath("shift.cu").read_text()


def kernel_names() -> list[str]:
    """Every ``extern "C"`` kernel that ``shift.cu`` must define."""
    return [
        f"shift_{layout}_{bits}_v{vec}_{index}"
        for bits, wide in _VEC.items()
        for layout in ("nchw", "nhwc")
        for vec in (1, wide)
        for index in ("i32", "i64")
    ]


def available() -> bool:
    """CuPy importable, able to see a GPU, and the kernel not known to be broken."""
    return _broken is None and _cupy_sees_gpu()


@functools.lru_cache(maxsize=1)
def _cupy_sees_gpu() -> bool:
    try:
        import cupy

        return bool(cupy.is_available())
    except Exception:  # noqa: BLE001 - any import/driver failure means "use the PyTorch path"
        return False


def warn_fallback_once(reason: str | None = None) -> None:
    global _warned
    if not _warned:
        _warned = True
        why = reason or "CuPy is not installed or cannot use the GPU"
        warnings.warn(
            f"shiftnet: {why}, so the shift runs through the (exact, slower) PyTorch path. Install the matching "
            "extra, e.g. pip install 'shiftnet[cuda13]', or set SHIFTNET_SHIFT_IMPL=torch to silence this.",
            stacklevel=3,
        )


@functools.lru_cache(maxsize=None)
def _module(device_index: int):
    import cupy

    with cupy.cuda.Device(device_index):
        return cupy.RawModule(code=kernel_source(), options=("-std=c++17",))


@functools.lru_cache(maxsize=None)
def _function(device_index: int, name: str):
    global _broken
    try:
        return _module(device_index).get_function(name)
    except Exception as exc:  # noqa: BLE001 - NVRTC missing, compile or load failure: report, fall back
        first_line = str(exc).splitlines()[0] if str(exc) else ""
        _broken = f"the CUDA shift kernel could not be built ({type(exc).__name__}: {first_line})"
        raise KernelUnavailable(_broken) from exc


@functools.lru_cache(maxsize=None)
def _max_blocks(device_index: int) -> int:
    props = torch.cuda.get_device_properties(device_index)
    return props.multi_processor_count * (props.max_threads_per_multi_processor // THREADS) * 4


def shift_cuda(x: torch.Tensor, kernel_size: int, dilation: int, transpose: bool) -> torch.Tensor:
    """Shift a CUDA tensor with the RawKernel; semantics identical to ``reference.shift_torch``."""
    if x.dtype not in _BITS:
        raise ValueError(f"the CUDA shift supports float16, bfloat16, float32 and float64, got {x.dtype}")
    if not (x.is_contiguous() or x.is_contiguous(memory_format=torch.channels_last)):
        x = x.contiguous()  # any other strides: one explicit copy, never a silently wrong read
    out = torch.empty_like(x)
    launch(x, out, kernel_size, dilation, transpose)
    return out


def launch(x: torch.Tensor, out: torch.Tensor, kernel_size: int, dilation: int, transpose: bool) -> None:
    """Write shift(x) into ``out`` (same shape, dtype and dense layout as ``x``; every element)."""
    import cupy
    import numpy as np

    if x.is_contiguous():
        layout = "nchw"
    elif x.is_contiguous(memory_format=torch.channels_last):
        layout = "nhwc"
    else:
        raise ValueError("launch needs a dense NCHW or channels_last tensor")
    if out.shape != x.shape or out.dtype != x.dtype or out.stride() != x.stride():
        raise ValueError("launch needs an output of the input's shape, dtype and strides")
    if x.numel() == 0:
        return
    n, channels, height, width = x.shape
    bits = _BITS[x.dtype]
    inner = width if layout == "nchw" else channels
    vec = _VEC[bits] if inner % _VEC[bits] == 0 and out.data_ptr() % 16 == 0 else 1
    packs = x.numel() // vec
    index = "i32" if x.numel() < 2**31 - 1 else "i64"
    device = x.device.index if x.device.index is not None else torch.cuda.current_device()
    function = _function(device, f"shift_{layout}_{bits}_v{vec}_{index}")
    blocks = max(1, min((packs + THREADS - 1) // THREADS, _max_blocks(device)))
    packs_arg = np.int32(packs) if index == "i32" else np.int64(packs)
    args = (
        np.uint64(x.data_ptr()), np.uint64(out.data_ptr()), packs_arg,
        np.int32(channels), np.int32(height), np.int32(width), np.int32(kernel_size), np.int32(dilation),
        np.int32(shifted_channels(channels, kernel_size)), np.int32(-1 if transpose else 1),
    )
    stream = torch.cuda.current_stream(device)
    with cupy.cuda.Device(device), cupy.cuda.ExternalStream(stream.cuda_stream):
        function((blocks,), (THREADS,), args)
