"""The unpickling half of the ``.t7`` reader: torch's legacy file layout, under an allow-list.

A legacy (non-zip) ``torch.save`` file is a magic-number pickle, a protocol pickle, a sys-info
pickle, the object pickle, a pickle of the storage keys, then each storage's raw bytes. The object
pickle refers to two kinds of persistent ids: ``('storage', type, key, location, numel, view)`` for
tensor data and, the first time each module class appears, ``('module', class, source file, source
text)`` (docs/original.md#checkpoints). Every global goes through ``safe_pickle``'s allow-list: module
classes become the inert ``StandIn``, tensors become ``LazyTensor`` views of storages whose bytes are
read by this module, and nothing else is built. ``legacy_t7`` walks the result into a state dict.
"""

from __future__ import annotations

import collections
import io
import struct
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import UsageError
from ..safe_pickle import load_restricted

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001

_STORAGE_DTYPES = {
    "DoubleStorage": torch.float64, "FloatStorage": torch.float32, "HalfStorage": torch.float16,
    "LongStorage": torch.int64, "IntStorage": torch.int32, "ShortStorage": torch.int16,
    "CharStorage": torch.int8, "ByteStorage": torch.uint8, "BoolStorage": torch.bool,
}

# Class paths a seed checkpoint may name, across the seed's history; all become StandIn.
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

    _origin = "?"

    def __init__(self, *args, **kwargs):
        self.__dict__["_class_args"] = args

    def __setstate__(self, state):
        if isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], dict):
            state = {**(state[0] or {}), **state[1]}
        if not isinstance(state, dict):
            raise UsageError(f"checkpoint module {self._origin} has a state of type {type(state).__name__}")
        self.__dict__.update(state)


def _stand_in_class(module: str, name: str) -> type:
    return type(name, (StandIn,), {"_origin": f"{module}.{name}"})


class _Refuse:
    """Base of the reader's own objects: a pickle may not BUILD into them (that would let it
    change a dtype or a storage after the reader checked it)."""

    def __setstate__(self, state):
        raise UsageError(f"refusing unsafe checkpoint: it modifies a {type(self).__name__.strip('_')}")


@dataclass(eq=False)
class Storage(_Refuse):
    key: str
    dtype: torch.dtype
    view_of: str | None = None
    view_offset: int = 0
    data: torch.Tensor | None = None


@dataclass(eq=False)
class LazyTensor(_Refuse):
    storage: Storage
    offset: int
    size: tuple
    stride: tuple

    def __setstate__(self, state) -> None:
        """PyTorch 0.3 pickled Parameters as ``Parameter(data)`` + BUILD(requires_grad, volatile, hooks)."""
        if not isinstance(state, tuple):
            super().__setstate__(state)

    def materialize(self, storages: dict[str, Storage]) -> torch.Tensor:
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
        if last >= flat.numel() or self.offset < 0 or base_offset < 0 or numel > flat.numel():
            raise UsageError("checkpoint tensor reaches past its storage (corrupt file)")
        return flat.as_strided(self.size, self.stride, base_offset + self.offset).clone()


def _ints(values, what: str) -> tuple:
    values = tuple(values)
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values):
        raise UsageError(f"checkpoint tensor has an invalid {what} {values!r} (corrupt file)")
    return values


def _contiguous_stride(size) -> tuple:
    stride, acc = [], 1
    for dim in reversed(size):
        stride.append(acc)
        acc *= dim
    return tuple(reversed(stride))


def _rebuild_tensor(storage, storage_offset, size, stride=None, *_rest):
    """Both ``torch._utils._rebuild_tensor`` (0.3: storage, offset, size, stride) and
    ``_rebuild_tensor_v2`` (0.4 on: the same plus requires_grad, hooks[, metadata])."""
    if not isinstance(storage, Storage):
        raise UsageError("refusing unsafe checkpoint: a tensor is built from something other than a storage")
    size = _ints(size, "size")
    stride = _ints(stride, "stride") if stride is not None else _contiguous_stride(size)
    if len(stride) != len(size) or not isinstance(storage_offset, int):
        raise UsageError("checkpoint tensor has an invalid shape (corrupt file)")
    return LazyTensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data, *_rest):
    return data


def _parameter(data=None, *_rest):
    return data


def _device(*args):
    """``torch.device`` (a DataParallel wrapper's ``src_device_obj``): kept as text, never used."""
    return ":".join(str(a) for a in args)


def _reconstructor(cls, base, state=None):
    if not (isinstance(cls, type) and issubclass(cls, (StandIn, collections.OrderedDict))):
        raise UsageError(f"refusing unsafe checkpoint: it reconstructs {cls!r}")
    obj = cls.__new__(cls)
    if state is not None and isinstance(obj, StandIn):
        obj.__setstate__(state)
    return obj


class _StorageType(_Refuse):
    def __init__(self, name: str):
        self.name = name
        self.dtype = _STORAGE_DTYPES[name]


def _allowed_globals() -> dict:
    allowed = {(module, name): _stand_in_class(module, name) for module, name in _MODULE_CLASSES}
    allowed.update({
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
        ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
        ("torch.nn.parameter", "Parameter"): _parameter,
        ("torch.autograd.variable", "Variable"): _parameter,
        ("torch.nn.backends.thnn", "_get_thnn_function_backend"): lambda *a: None,
        ("torch", "Size"): tuple,
        ("torch", "device"): _device,
        ("copy_reg", "_reconstructor"): _reconstructor,
        ("copyreg", "_reconstructor"): _reconstructor,
        ("__builtin__", "object"): object,
        ("builtins", "object"): object,
        ("__builtin__", "set"): set,  # a module's _non_persistent_buffers_set (Python 3 writers)
        ("builtins", "set"): set,
    })
    for name in _STORAGE_DTYPES:
        allowed[("torch", name)] = _StorageType(name)
        allowed[("torch.cuda", name)] = _StorageType(name)  # written on a GPU; read on the CPU
    return allowed


class Reader:
    """The persistent ids of one file: its storages and the module classes it names."""

    def __init__(self, what: str):
        self.what = what
        self.storages: dict[str, Storage] = {}
        self.classes: set[str] = set()

    def persistent_load(self, pid):
        kind = pid[0] if isinstance(pid, tuple) and pid else None
        if kind == "module" and len(pid) == 4:
            cls = pid[1]
            if not (isinstance(cls, type) and issubclass(cls, StandIn)):
                raise UsageError(f"refusing unsafe {self.what}: its module id names {cls!r}, not an allowed class")
            self.classes.add(cls._origin)
            return cls  # the source text in pid[3] is ignored: never compiled, never run
        if kind == "storage" and len(pid) in (5, 6):
            return self._storage(*pid[1:])
        raise UsageError(f"refusing unsafe {self.what}: unexpected persistent id "
                         f"{kind if isinstance(kind, str) else type(pid).__name__!r} "
                         f"(torch's legacy files hold only 'storage' and 'module' ids)")

    def _storage(self, storage_type, key, _location, _numel, view=None) -> Storage:
        if not isinstance(storage_type, _StorageType) or storage_type.dtype not in _STORAGE_DTYPES.values():
            raise UsageError(f"refusing unsafe {self.what}: storage type {storage_type!r}")
        key = str(key)
        if key not in self.storages:
            self.storages[key] = Storage(key, storage_type.dtype)
        if view is None:
            return self.storages[key]
        if not (isinstance(view, tuple) and len(view) == 3):
            raise UsageError(f"{self.what} has a malformed storage view (corrupt file)")
        view_key, offset, _size = view
        view_key = str(view_key)
        if view_key not in self.storages:
            self.storages[view_key] = Storage(view_key, storage_type.dtype, view_of=key, view_offset=int(offset))
        return self.storages[view_key]


def read_legacy(data: bytes, path: Path) -> tuple[object, Reader]:
    if data[:2] == b"PK":
        raise UsageError(f"{path} is a zip archive (a modern torch.save file, or a torch.export .pt2), not a "
                         f"checkpoint shiftnet reads: give a .safetensors, a run's last.pt or an original .t7")
    stream = io.BytesIO(data)
    plain: dict = {}
    what = f"checkpoint {path}"
    try:
        magic = load_restricted(stream, plain, what)
        protocol = load_restricted(stream, plain, what)
    except UsageError:
        raise UsageError(f"{path} is not a checkpoint shiftnet reads (.safetensors, a run's last.pt, or a legacy torch "
                         f"checkpoint .t7 of the original), or it is truncated") from None
    if magic != LEGACY_MAGIC or protocol != LEGACY_PROTOCOL:
        raise UsageError(f"{path} is not a legacy torch checkpoint (.t7): wrong magic number")
    sys_info = load_restricted(stream, plain, what)
    if isinstance(sys_info, dict) and sys_info.get("little_endian") is False:
        raise UsageError(f"{path} was written on a big-endian machine; this reader handles little-endian files only")
    reader = Reader(what)
    obj = load_restricted(stream, _allowed_globals(), what, persistent_load=reader.persistent_load)
    keys = load_restricted(stream, plain, what)
    if not isinstance(keys, list):
        raise UsageError(f"{path} is not a legacy torch checkpoint (no storage list)")
    for key in keys:
        key = str(key)
        header = stream.read(8)
        if len(header) < 8 or key not in reader.storages:
            raise UsageError(f"{path} is truncated (storage {key} missing)")
        (count,) = struct.unpack("<q", header)
        storage = reader.storages[key]
        nbytes = count * torch.empty((), dtype=storage.dtype).element_size()
        raw = stream.read(max(nbytes, 0))
        if len(raw) != nbytes or count < 0:
            raise UsageError(f"{path} is truncated (storage {key} has {len(raw)} of {nbytes} bytes)")
        empty = torch.empty(0, dtype=storage.dtype)
        storage.data = torch.frombuffer(bytearray(raw), dtype=storage.dtype) if nbytes else empty
    return obj, reader
