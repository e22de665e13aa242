"""Writes checkpoints in the seed's format for tests: PyTorch 0.3/0.4 legacy (non-zip) torch.save of
{'net': <module tree>, 'acc', 'epoch'}, protocol 2, module classes under the original import paths.

The module tree is made of plain objects whose classes pickle as e.g. ``models.resnet.ResNet`` or
``torch.nn.modules.conv.Conv2d`` (a pure-Python pickler rewrites the GLOBAL names), tensors as
``torch._utils._rebuild_tensor_v2`` over storages given as persistent ids, exactly the layout of
``torch.serialization._legacy_save``.
"""

from __future__ import annotations

import collections
import io
import pickle
import struct

import torch
from torch import nn

from shiftnet.kernels import Shift
from shiftnet.models import BasicBlock, DepthwiseBlock, ShiftConv
from shiftnet.models.resnet import CifarResNet

MAGIC = 0x1950A86A20F9469CFC6C


class Named:
    """A class that pickles as GLOBAL ``module name`` (made by ``named``)."""


_classes: dict = {}


def named(module: str, name: str) -> type:
    key = (module, name)
    if key not in _classes:
        _classes[key] = type(name, (Named,), {"_pickle_as": key})
    return _classes[key]


class FakeStorage:
    def __init__(self, key: str, tensor: torch.Tensor, type_name: str):
        self.key, self.tensor, self.type_name = key, tensor, type_name


class FakeTensor:
    def __init__(self, storage: FakeStorage, size, stride, offset=0):
        self.storage, self.size, self.stride, self.offset = storage, size, stride, offset

    def __reduce_ex__(self, proto):
        return torch._utils._rebuild_tensor_v2, (self.storage, self.offset, tuple(self.size), tuple(self.stride), False,
                                                 collections.OrderedDict())


class FakeParameter03:
    """PyTorch 0.3: Parameter(data) then BUILD with (requires_grad, volatile, hooks)."""

    def __init__(self, data):
        self.data = data

    def __reduce_ex__(self, proto):
        return named("torch.nn.parameter", "Parameter"), (self.data,), (True, False, collections.OrderedDict())


class FakeParameter04:
    def __init__(self, data):
        self.data = data

    def __reduce_ex__(self, proto):
        return named("torch._utils", "_rebuild_parameter"), (self.data, True, collections.OrderedDict())


class ThnnBackend:
    def __reduce_ex__(self, proto):
        return named("torch.nn.backends.thnn", "_get_thnn_function_backend"), ()


class _Pickler(pickle._Pickler):
    def __init__(self, file, storages):
        super().__init__(file, protocol=2)
        self.storages = storages

    def persistent_id(self, obj):
        if isinstance(obj, FakeStorage):
            self.storages[obj.key] = obj
            return ("storage", named("torch.cuda", obj.type_name), obj.key, "cuda:0", obj.tensor.numel(), None)
        return None

    def save_global(self, obj, name=None):
        if isinstance(obj, type) and issubclass(obj, Named):
            module, qualname = obj._pickle_as
            self.write(pickle.GLOBAL + module.encode() + b"\n" + qualname.encode() + b"\n")
            self.memoize(obj)
            return
        super().save_global(obj, name)

    dispatch = dict(pickle._Pickler.dispatch)
    dispatch[type] = save_global


CLASS_PATHS = {
    CifarResNet: ("models.resnet", "ResNet"), BasicBlock: ("models.resnet", "BasicBlock"),
    ShiftConv: ("models.shiftresnet", "ShiftConv"), DepthwiseBlock: ("models.depthwiseresnet", "DepthWiseWithSkipBlock"),
    Shift: ("models.shiftnet_cuda_v2.nn", "GenericShift_cuda"), nn.Conv2d: ("torch.nn.modules.conv", "Conv2d"),
    nn.BatchNorm2d: ("torch.nn.modules.batchnorm", "BatchNorm2d"), nn.Linear: ("torch.nn.modules.linear", "Linear"),
    nn.Sequential: ("torch.nn.modules.container", "Sequential"),
}
_TYPE_NAMES = {torch.float32: "FloatStorage", torch.int64: "LongStorage", torch.float64: "DoubleStorage"}


def stand_in_tree(module: nn.Module, counter: list, style: str = "0.4", shift_path: tuple | None = None):
    """The pickled-module view of ``module``: plain objects, original class paths, fake tensors."""
    path = CLASS_PATHS[type(module)]
    if type(module) is Shift and shift_path:
        path = shift_path
    obj = named(*path).__new__(named(*path))
    params, buffers = collections.OrderedDict(), collections.OrderedDict()
    for name, value in module._parameters.items():
        if value is None:
            params[name] = None
            continue
        tensor = _fake(value.detach(), counter)
        params[name] = FakeParameter03(tensor) if style == "0.3" else FakeParameter04(tensor)
    for name, value in module._buffers.items():
        if name == "num_batches_tracked" and style == "0.3":
            continue  # PyTorch 0.3 BN had no such buffer
        buffers[name] = _fake(value, counter)
    children = collections.OrderedDict((n, stand_in_tree(c, counter, style, shift_path)) for n, c in module._modules.items())
    obj.__dict__.update({"_parameters": params, "_buffers": buffers, "_modules": children, "training": False,
                         "_backend": ThnnBackend(), "_forward_hooks": collections.OrderedDict()})
    return obj


def _fake(tensor: torch.Tensor, counter: list) -> FakeTensor:
    counter[0] += 1
    storage = FakeStorage(str(1000 + counter[0]), tensor.contiguous().flatten(), _TYPE_NAMES[tensor.dtype])
    return FakeTensor(storage, tuple(tensor.shape), tuple(tensor.contiguous().stride()))


def legacy_bytes(obj) -> bytes:
    """Serialise ``obj`` as torch.serialization._legacy_save did (protocol 2)."""
    out = io.BytesIO()
    pickle.dump(MAGIC, out, protocol=2)
    pickle.dump(1001, out, protocol=2)
    pickle.dump({"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 8}}, out, protocol=2)
    storages: dict = {}
    _Pickler(out, storages).dump(obj)
    keys = sorted(storages)
    pickle.dump(keys, out, protocol=2)
    for key in keys:
        tensor = storages[key].tensor
        out.write(struct.pack("<q", tensor.numel()))
        out.write(tensor.numpy().tobytes())
    return out.getvalue()


def seed_checkpoint(model: nn.Module, acc: float = 91.5, epoch: int = 120, style: str = "0.4",
                    data_parallel: bool = False, shift_path: tuple | None = None) -> bytes:
    tree = stand_in_tree(model, [0], style, shift_path)
    if data_parallel:
        wrapper = named("torch.nn.parallel.data_parallel", "DataParallel").__new__(named("torch.nn.parallel.data_parallel", "DataParallel"))
        wrapper.__dict__.update({"_parameters": collections.OrderedDict(), "_buffers": collections.OrderedDict(),
                                 "_modules": collections.OrderedDict(module=tree)})
        tree = wrapper
    return legacy_bytes({"net": tree, "acc": acc, "epoch": epoch})
