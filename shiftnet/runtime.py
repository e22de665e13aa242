"""Process-level setup that every long-running command shares: allocator tuning and devices.

glibc's malloc returns every block above its mmap threshold (32 MB at most) to the kernel on free
and page-faults it back on the next allocation. A CIFAR training step frees and reallocates
activations of that size hundreds of times, so on CPU most of the step went to page faults
(measured in docs/platform.md#allocator and BENCHMARKS.md). Raising the mmap and trim thresholds keeps
freed memory in the process: the fix that ``tune_allocator`` applies by default; the cost is a
higher resident set. ``SHIFTNET_MALLOC_TUNING=0`` turns it off. Importing this module does not
import torch (the device functions do), so the command line can import it before it knows it runs.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
from typing import TYPE_CHECKING

from .enums import DEVICES

if TYPE_CHECKING:
    import torch

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_tuned: bool | None = None


def tune_allocator() -> bool:
    """Raise glibc's mmap/trim thresholds once per process; True if applied (Linux/glibc only)."""
    global _tuned
    if _tuned is not None:
        return _tuned
    _tuned = False
    if os.environ.get("SHIFTNET_MALLOC_TUNING", "1") == "0" or platform.system() != "Linux":
        return _tuned
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl or another libc without mallopt
        return _tuned
    limit = 2**31 - 1
    _tuned = bool(mallopt(_M_MMAP_THRESHOLD, limit)) and bool(mallopt(_M_TRIM_THRESHOLD, limit))
    return _tuned


def is_device_name(device) -> bool:
    """One of DEVICES or ``cuda:<index>`` (ASCII digits): torch's own error for ``cuda:x`` names
    neither the flag nor the valid forms, and comes only once a run has started."""
    index = device[len("cuda:"):] if isinstance(device, str) and device.startswith("cuda:") else None
    return device in DEVICES or (index is not None and index.isascii() and index.isdecimal() and len(index) < 6)


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` -> cuda if available else cpu; ``cuda`` without a GPU, or a GPU index it lacks, is a usage error."""
    import torch

    if not is_device_name(device):
        raise ValueError(f"--device must be {', '.join(DEVICES)} or cuda:<index> (e.g. cuda:0), got {device!r}")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for but PyTorch sees no CUDA GPU; use --device cpu or auto")
    if device.startswith("cuda:") and int(device[5:]) >= torch.cuda.device_count():
        count = torch.cuda.device_count()
        raise ValueError(f"--device {device}: PyTorch sees {count} GPU{'s' if count > 1 else ''} "
                         f"(cuda:0{f' to cuda:{count - 1}' if count > 1 else ''})")
    return torch.device(device)


def describe_machine(device: torch.device) -> str:
    """One line for benchmark records: the card or CPU, thread count, torch version."""
    import torch

    if device.type == "cuda":
        hardware = torch.cuda.get_device_name(device)
    else:
        hardware = f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"
        try:
            with open("/proc/cpuinfo") as handle:
                model = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
            hardware = f"{model}, {torch.get_num_threads()} threads"
        except (OSError, StopIteration):
            pass
    return f"{hardware}; torch {torch.__version__}; python {platform.python_version()}"
