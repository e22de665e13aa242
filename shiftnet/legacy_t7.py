"""Import the original ``.t7`` checkpoints safely: Python-2 pickles of whole modules, legacy format.

The seed saved ``{'net': <nn.Module>, 'acc': float, 'epoch': int}`` with PyTorch 0.3/0.4's legacy
(non-zip) ``torch.save``: a magic-number pickle, a protocol pickle, a sys-info pickle, the object
pickle (storages as persistent ids), a pickle of the storage keys, then each storage's raw bytes.
Unpickling it normally would import the seed's classes and run whatever the file asks. Here every
global goes through an allow-list (``safe_pickle``): the seed's module classes and the torch
module classes map to one inert ``StandIn`` that only records its state, tensors are rebuilt from
the raw storage bytes by our own code, and anything else (``os.system``, ``builtins.eval``, ...)
is refused before it runs. What comes out is a plain state dict.
"""

from __future__ import annotations

import collections
import io
import struct
from dataclasses import dataclass
from pathlib import Path

import torch

from .errors import UsageError
from .safe_pickle import load_restricted

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001

_STORAGE_DTYPES = {
    "DoubleStorage": torch.float64, "FloatStorage": torch.float32, "HalfStorage": torch.float16,
    "LongStorage": torch.int64, "IntStorage": torch.int32, "ShortStorage": torch.int16,
    "CharStorage": torch.int8, "ByteStorage": torch.uint8, "BoolStorage": torch.bool,
}

# Class paths a seed checkpoint may name (spec §9); all become StandIn.
_MODULE_CLASSES = [
    ("models.resnet", "ResNet"), ("models.resnet", "BasicBlock"), ("models.resnet", "ShiftConv"),
    ("models.shiftresnet", "ShiftConv"), ("models.shiftresnet", "ResNet"), ("models.depthwiseresnet", "ResNet"),
    ("models.depthwiseresnet", "DepthWiseWithSkipBlock"), ("models.resnet", "DepthWiseWithSkipBlock"),
    ("shiftnet_cuda_v2.nn", "GenericShift_cuda"), ("models.shiftnet_cuda_v2.nn", "GenericShift_cuda"),
    ("shiftnet_cuda_v2.nn", "Shift3x3_cuda"), ("models.shiftnet_cuda_v2.nn", "Shift3x3_cuda"),
    ("torch.nn.modules.conv", "Conv2d"), ("torch.nn.modules.batchnorm", "BatchNorm2d"),
    ("torch.nn.modules.linear", "Linear"), ("torch.nn.modules.container", "Sequential"),
    ("torch.nn.modules.activation", "ReLU"), ("torch.nn.modules.pooling", "AvgPool2d"),
    ("torch.nn.modules.module", "Module"), ("torch.nn.parallel.data_parallel", "DataParallel"),
]


class StandIn:
    """Inert replacement for every pickled module class: it only keeps the pickled state."""

    def __init__(self, *args, **kwargs):
        self.__dict__["_class_args"] = args

    def __setstate__(self, state):
        if isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], dict):
            state = {**(state[0] or {}), **state[1]}
        if isinstance(state, dict):
            self.__dict__.update(state)


def _stand_in_class(module: str, name: str) -> type:
    return type(name, (StandIn,), {"_origin": f"{module}.{name}"})


@dataclass
class _Storage:
    key: str
    dtype: torch.dtype
    view_of: str | None = None
    view_offset: int = 0
    data: torch.Tensor | None = None


@dataclass
class _LazyTensor:
    storage: _Storage
    offset: int
    size: tuple
    stride: tuple

    def __setstate__(self, state) -> None:
        """PyTorch 0.3 pickled Parameters as ``Parameter(data)`` + BUILD(requires_grad, volatile, hooks)."""

    def materialize(self, storages: dict[str, _Storage]) -> torch.Tensor:
        storage = self.storage
        base_offset = 0
        if storage.view_of is not None:
            base_offset = storage.view_offset
            storage = storages[storage.view_of]
        if storage.data is None:
            raise UsageError(f"checkpoint storage {storage.key} has no data (truncated file)")
        flat = storage.data
        numel = 1
        for dim in self.size:
            numel *= dim
        if numel == 0:
            return torch.empty(self.size, dtype=flat.dtype)
        last = base_offset + self.offset + sum((s - 1) * st for s, st in zip(self.size, self.stride))
        if last >= flat.numel() or self.offset < 0:
            raise UsageError("checkpoint tensor reaches past its storage (corrupt file)")
        return flat.as_strided(self.size, self.stride, base_offset + self.offset).clone()


def _contiguous_stride(size) -> tuple:
    stride, acc = [], 1
    for dim in reversed(size):
        stride.append(acc)
        acc *= dim
    return tuple(reversed(stride))


def _rebuild_tensor(storage, storage_offset, size, stride=None, *_rest):
    return _LazyTensor(storage, int(storage_offset), tuple(size), tuple(stride) if stride is not None else _contiguous_stride(size))


def _rebuild_parameter(data, *_rest):
    return data


def _parameter(data=None, *_rest):
    return data


def _reconstructor(cls, base, state=None):
    if not (isinstance(cls, type) and issubclass(cls, (StandIn, collections.OrderedDict))):
        raise UsageError(f"refusing unsafe checkpoint: it reconstructs {cls!r}")
    obj = cls.__new__(cls)
    if state is not None and isinstance(obj, StandIn):
        obj.__setstate__(state)
    return obj


class _StorageType:
    def __init__(self, name: str):
        self.dtype = _STORAGE_DTYPES[name]


def _allowed_globals() -> dict:
    allowed = {(module, name): _stand_in_class(module, name) for module, name in _MODULE_CLASSES}
    allowed.update({
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
        ("torch.nn.parameter", "Parameter"): _parameter,
        ("torch.autograd.variable", "Variable"): _parameter,
        ("torch.nn.backends.thnn", "_get_thnn_function_backend"): lambda *a: None,
        ("torch", "Size"): tuple,
        ("copy_reg", "_reconstructor"): _reconstructor,
        ("copyreg", "_reconstructor"): _reconstructor,
        ("__builtin__", "object"): object,
        ("builtins", "object"): object,
    })
    for name in _STORAGE_DTYPES:
        allowed[("torch", name)] = _StorageType(name)
        allowed[("torch.cuda", name)] = _StorageType(name)
    return allowed


def _read_legacy(data: bytes, path: Path) -> tuple[object, dict[str, _Storage]]:
    if data[:2] == b"PK":
        raise UsageError(f"{path} is a zip-format torch checkpoint, not one of the seed's legacy .t7 files; "
                         f"convert it with the PyTorch that wrote it (torch.save(model.state_dict(), ...))")
    stream = io.BytesIO(data)
    plain: dict = {}
    what = f"checkpoint {path}"
    try:
        magic = load_restricted(stream, plain, what)
        protocol = load_restricted(stream, plain, what)
    except UsageError:
        raise UsageError(f"{path} is not a legacy torch checkpoint (.t7) or is truncated") from None
    if magic != LEGACY_MAGIC or protocol != LEGACY_PROTOCOL:
        raise UsageError(f"{path} is not a legacy torch checkpoint (.t7): wrong magic number")
    load_restricted(stream, plain, what)  # sys_info: endianness and type sizes, always little-endian x86 here
    storages: dict[str, _Storage] = {}

    def persistent_load(pid):
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage" and len(pid) >= 5):
            raise UsageError(f"refusing unsafe {what}: unexpected persistent id")
        _, storage_type, key, _location, *rest = pid
        view = rest[1] if len(rest) > 1 else None
        if not isinstance(storage_type, _StorageType):
            raise UsageError(f"refusing unsafe {what}: storage type {storage_type!r}")
        key = str(key)
        if key not in storages:
            storages[key] = _Storage(key, storage_type.dtype)
        if view is not None:
            view_key, offset, _size = view
            view_key = str(view_key)
            if view_key not in storages:
                storages[view_key] = _Storage(view_key, storage_type.dtype, view_of=key, view_offset=int(offset))
            return storages[view_key]
        return storages[key]

    obj = load_restricted(stream, _allowed_globals(), what, persistent_load=persistent_load)
    keys = load_restricted(stream, plain, what)
    for key in keys:
        key = str(key)
        header = stream.read(8)
        if len(header) < 8 or key not in storages:
            raise UsageError(f"{path} is truncated (storage {key} missing)")
        (count,) = struct.unpack("<q", header)
        storage = storages[key]
        nbytes = count * torch.empty((), dtype=storage.dtype).element_size()
        raw = stream.read(nbytes)
        if len(raw) != nbytes or count < 0:
            raise UsageError(f"{path} is truncated (storage {key} has {len(raw)} of {nbytes} bytes)")
        storage.data = torch.frombuffer(bytearray(raw), dtype=storage.dtype) if nbytes else torch.empty(0, dtype=storage.dtype)
    return obj, storages


def _state_dict(module: StandIn, storages: dict[str, _Storage], prefix: str = "") -> dict[str, torch.Tensor]:
    if not isinstance(module, StandIn):
        raise UsageError(f"checkpoint 'net' is not a module tree (found {type(module).__name__})")
    state = {}
    children = dict(getattr(module, "_modules", {}) or {})
    if type(module).__name__ == "DataParallel" and "module" in children:  # PR #4-era files pickled the wrapper
        return _state_dict(children["module"], storages, prefix)
    for attr in ("_parameters", "_buffers"):
        for name, value in (getattr(module, attr, {}) or {}).items():
            if value is None:
                continue
            if not isinstance(value, _LazyTensor):
                raise UsageError(f"checkpoint entry {prefix}{name} is not a tensor")
            state[prefix + name] = value.materialize(storages)
    for name, child in children.items():
        if child is not None:
            state.update(_state_dict(child, storages, f"{prefix}{name}."))
    return state


def load_t7(path: str | Path) -> tuple[dict[str, torch.Tensor], dict]:
    """(state dict, {"acc", "epoch"} as recorded) of an original checkpoint; UsageError otherwise."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{path} not found") from None
    obj, storages = _read_legacy(data, path)
    if not isinstance(obj, dict) or "net" not in obj:
        raise UsageError(f"{path} is not one of the seed's checkpoints (no 'net' entry)")
    state = _state_dict(obj["net"], storages)
    if not state:
        raise UsageError(f"{path} holds a module without parameters")
    info = {"acc": obj.get("acc"), "epoch": obj.get("epoch")}
    if isinstance(info["acc"], _LazyTensor):  # very early runs stored acc as a tensor
        info["acc"] = float(info["acc"].materialize(storages).item())
    return state, info
