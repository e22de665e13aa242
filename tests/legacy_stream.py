"""A torch-written legacy ``.t7`` stream rewritten into what this machine cannot write (``rewrite``):
CUDA storage types at ``'cuda:0'``, Python-2 byte strings (and Python 2's OrderedDict pickling),
PyTorch 0.3's ``_rebuild_tensor`` and ``Parameter(data)`` + BUILD without ``num_batches_tracked``,
or any edit of the object tree (hostile files: ``sym`` and ``RawPid`` name what to write). The stream
is read into symbolic objects (no class is imported) and written back by a pure-Python pickler.
"""

from __future__ import annotations

import copyreg
import io
import pickle
import struct


class _Sym:
    """An object of a global the stream names, recorded instead of built: how it was made
    (REDUCE or NEWOBJ), its arguments, its BUILD state and any SETITEMS."""

    path = ("?", "?")

    def __new__(cls, *args):
        obj = object.__new__(cls)
        obj.how, obj.args, obj.state, obj.items = "newobj", args, None, []
        return obj

    def __init__(self, *args):
        self.how, self.args = "reduce", args

    def __setstate__(self, state):
        self.state = state

    def __setitem__(self, key, value):
        self.items.append([key, value])


_SYMS: dict = {}


def sym(module: str, name: str) -> type:
    key = (module, name)
    if key not in _SYMS:
        _SYMS[key] = type(name, (_Sym,), {"path": key})
    return _SYMS[key]


_ELEMENT_SIZES = {"FloatStorage": 4, "LongStorage": 8, "DoubleStorage": 8, "HalfStorage": 2, "IntStorage": 4}


class _StorageId:
    def __init__(self, storage_type, key, location, numel, view):
        self.storage_type, self.key, self.location, self.numel, self.view = storage_type, key, location, numel, view


class RawPid:
    """A persistent id written exactly as given (to build hostile files)."""

    def __init__(self, pid: tuple):
        self.pid = pid


class _SymUnpickler(pickle.Unpickler):
    def __init__(self, file, module_ids: dict):
        super().__init__(file)
        self.module_ids = module_ids

    def find_class(self, module, name):
        return sym(module, name)

    def persistent_load(self, pid):
        if pid[0] == "module":
            self.module_ids[pid[1]] = (pid[2], pid[3])
            return pid[1]
        return _StorageId(*pid[1:])


class _Writer(pickle._Pickler):
    """Protocol 2, as torch's legacy writer; ``py2`` writes str as Python 2 byte strings and
    OrderedDicts as Python 2 pickled them."""

    def __init__(self, file, module_ids: dict, py2: bool):
        super().__init__(file, protocol=2)
        self.module_ids, self.py2, self.emitted = module_ids, py2, set()

    def persistent_id(self, obj):
        if isinstance(obj, RawPid):
            return obj.pid
        if isinstance(obj, _StorageId):
            return ("storage", obj.storage_type, obj.key, obj.location, obj.numel, obj.view)
        if isinstance(obj, type) and obj in self.module_ids and obj not in self.emitted:
            self.emitted.add(obj)  # as torch: the first time each module class appears, with its source
            return ("module", obj, *self.module_ids[obj])
        return None

    def save_global(self, obj, name=None):
        if isinstance(obj, type) and issubclass(obj, _Sym):
            module, qualname = obj.path
            self.write(pickle.GLOBAL + module.encode() + b"\n" + qualname.encode() + b"\n")
            self.memoize(obj)
            return
        super().save_global(obj, name)

    def save_str(self, obj):
        if not self.py2:
            return super().save_str(obj)
        data = obj.encode("latin-1") if max(map(ord, obj), default=0) < 256 else obj.encode("utf-8")
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    def reducer_override(self, obj):
        if not isinstance(obj, _Sym):
            return NotImplemented
        if self.py2 and obj.path == ("collections", "OrderedDict"):
            return type(obj), (list(obj.items),)  # Python 2: OrderedDict([[key, value], ...])
        items = iter([tuple(item) for item in obj.items]) if obj.items else None
        if obj.how == "newobj":
            return copyreg.__newobj__, (type(obj), *obj.args), obj.state, None, items
        return type(obj), obj.args, obj.state, None, items

    dispatch = dict(pickle._Pickler.dispatch)
    dispatch[type] = save_global
    dispatch[str] = save_str


def _walk(obj, seen=None):
    """Every _Sym and _StorageId reachable from obj, once."""
    seen = set() if seen is None else seen
    stack = [obj]
    while stack:
        item = stack.pop()
        if id(item) in seen or isinstance(item, (str, bytes, int, float, type(None), type)):
            continue
        seen.add(id(item))
        if isinstance(item, (_Sym, _StorageId)):
            yield item
            if isinstance(item, _Sym):
                stack.extend([item.args, item.state, item.items])
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)


def _to_cuda(tree) -> None:
    for item in _walk(tree):
        if isinstance(item, _StorageId):
            item.storage_type, item.location = sym("torch.cuda", item.storage_type.path[1]), "cuda:0"


def _to_torch03(tree) -> None:
    """0.3: tensors by _rebuild_tensor(storage, offset, size, stride), parameters as Parameter(data)
    with BUILD (requires_grad, volatile, hooks), BatchNorm without num_batches_tracked."""
    for item in list(_walk(tree)):
        if not isinstance(item, _Sym):
            continue
        if item.path == ("torch._utils", "_rebuild_tensor_v2"):
            item.__class__, item.args = sym("torch._utils", "_rebuild_tensor"), item.args[:4]
        elif item.path == ("torch._utils", "_rebuild_parameter"):
            data, requires_grad, hooks = item.args
            item.__class__, item.args = sym("torch.nn.parameter", "Parameter"), (data,)
            item.state = (requires_grad, False, hooks)
        elif isinstance(item.state, dict) and "_buffers" in item.state:  # a module: 0.3 kept OrderedDicts
            item.state["_buffers"].pop("num_batches_tracked", None)
            for attr in ("_parameters", "_buffers", "_modules"):
                ordered = sym("collections", "OrderedDict")()
                ordered.items = [[key, value] for key, value in item.state[attr].items()]
                item.state[attr] = ordered


def rewrite(data: bytes, cuda: bool = False, py2: bool = False, torch03: bool = False, edit=None) -> bytes:
    """The torch-written legacy file ``data`` as a file written on a GPU (``cuda``), by Python 2
    (``py2``) or by PyTorch 0.3 (``torch03``); storage bytes are kept as they are. ``edit(tree,
    module_ids)`` may change the object tree (symbolic) and the module ids' (file, source) first."""
    stream = io.BytesIO(data)
    header = [pickle.load(stream) for _ in range(3)]  # magic, protocol, sys_info
    module_ids: dict = {}
    tree = _SymUnpickler(stream, module_ids).load()
    keys = pickle.load(stream)
    storages = [item for item in _walk(tree) if isinstance(item, _StorageId)]
    sizes = {item.key: _ELEMENT_SIZES[item.storage_type.path[1]] for item in storages}
    chunks = {}
    for key in keys:  # each storage: int64 element count, then the bytes
        (count,) = struct.unpack("<q", stream.read(8))
        chunks[key] = struct.pack("<q", count) + stream.read(count * sizes[key])
    if edit is not None:
        edit(tree, module_ids)
    if cuda:
        _to_cuda(tree)
    if torch03:
        _to_torch03(tree)
    used = {item.key for item in _walk(tree) if isinstance(item, _StorageId)}
    keys = [key for key in keys if key in used]  # a dropped num_batches_tracked takes its storage along
    out = io.BytesIO()
    for value in header:
        _Writer(out, {}, py2).dump(value)
    _Writer(out, module_ids, py2).dump(tree)
    _Writer(out, {}, py2).dump(keys)
    for key in keys:
        out.write(chunks[key])
    return out.getvalue()
