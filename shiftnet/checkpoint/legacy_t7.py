"""Import the original ``.t7`` checkpoints safely: pickles of whole modules in torch's legacy format.

The seed saved ``{'net': <nn.Module>, 'acc': float, 'epoch': int}`` with PyTorch 0.3/0.4's legacy
(non-zip) ``torch.save``: a magic-number pickle, a protocol pickle, a sys-info pickle, the object
pickle, a pickle of the storage keys, then each storage's raw bytes. The object pickle refers to
two kinds of persistent ids: ``('storage', type, key, location, numel, view)`` for tensor data and,
the first time each module class appears, ``('module', class, source file, source text)``: the
writer embeds the class's source code. Files from the original runs add what this machine cannot
write: CUDA storage types at ``'cuda:0'``, Python-2 byte strings, PyTorch 0.3's
``_rebuild_tensor`` and ``Parameter(data)`` + BUILD, BatchNorm without ``num_batches_tracked``, and
(between the seed's PR #4 and #5) a pickled ``DataParallel`` wrapper.

Unpickling such a file normally would import the seed's classes and run whatever the file asks.
Here every global goes through an allow-list (``safe_pickle``): the seed's module classes and the
torch module classes map to one inert ``StandIn`` that only records its state, the class named by a
``'module'`` id must be one of those (its source text is never compiled), tensors are rebuilt from
the raw storage bytes on the CPU by our own code, and anything else (``os.system``,
``builtins.eval``, another kind of persistent id) is refused before it runs. A small hostile file
cannot make the reader allocate much: a tensor may not be larger than its storage, and the module
tree is walked with a node and depth budget and must be a tree (no shared or cyclic modules).
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from ..errors import UsageError
from .t7_pickle import LazyTensor, StandIn, Storage, read_legacy

MAX_MODULES = 20_000  # ResNet110 has about 700 modules
MAX_DEPTH = 32  # the seed's nets nest 4 deep (net, layer, block, shortcut)

# The seed's depthwise-with-skip block calls its 3x3 depthwise conv ``depth``; ours calls it ``conv2``.
_DEPTHWISE_KEY = re.compile(r"^(layer\d+\.\d+\.)depth\.")


class _Walk:
    """Flattens a module tree into a state dict, as ``nn.Module.state_dict()`` orders it."""

    def __init__(self, storages: dict[str, Storage]):
        self.storages = storages
        self.seen: set[int] = set()
        self.state: dict[str, torch.Tensor] = {}

    def visit(self, module, prefix: str, depth: int) -> None:
        if not isinstance(module, StandIn):
            raise UsageError(f"checkpoint entry {prefix or 'net'} is not a module (found {type(module).__name__})")
        if id(module) in self.seen:
            raise UsageError(f"checkpoint module {prefix.rstrip('.') or 'net'} appears twice in the tree "
                             f"(shared or cyclic modules: corrupt or hostile file)")
        self.seen.add(id(module))
        if len(self.seen) > MAX_MODULES or depth > MAX_DEPTH:
            raise UsageError(f"checkpoint module tree is larger than any of the seed's nets "
                             f"(over {MAX_MODULES} modules or {MAX_DEPTH} levels): corrupt or hostile file")
        skip = getattr(module, "_non_persistent_buffers_set", None) or set()
        if not isinstance(skip, (set, frozenset, list, tuple)):
            raise UsageError(f"checkpoint module {prefix.rstrip('.') or 'net'} has a malformed buffer list")
        for attr in ("_parameters", "_buffers"):
            for name, value in self._items(module, attr, prefix):
                if value is None or (attr == "_buffers" and name in skip):
                    continue
                if not isinstance(value, LazyTensor):
                    raise UsageError(f"checkpoint entry {prefix}{name} is not a tensor")
                self.state[prefix + name] = value.materialize(self.storages)
        for name, child in self._items(module, "_modules", prefix):
            if child is not None:
                self.visit(child, f"{prefix}{name}.", depth + 1)

    @staticmethod
    def _items(module, attr: str, prefix: str) -> list:
        entries = getattr(module, attr, None) or {}
        if not isinstance(entries, dict) or not all(isinstance(k, str) for k in entries):
            raise UsageError(f"checkpoint module {prefix.rstrip('.') or 'net'} has a malformed {attr}")
        return list(entries.items())


def read_t7(path: str | Path) -> tuple[dict[str, torch.Tensor], dict]:
    """What ``torch.load(path)['net'].state_dict()`` gives (the module inside a DataParallel wrapper),
    without running anything from the file, plus ``{"acc", "epoch", "classes"}`` as recorded
    (``classes``: the module class paths the file names)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{path} not found") from None
    obj, reader = read_legacy(data, path)
    if not isinstance(obj, dict) or "net" not in obj:
        raise UsageError(f"{path} is not one of the seed's checkpoints (no 'net' entry)")
    net = obj["net"]
    if isinstance(net, StandIn) and net._origin.endswith(".DataParallel"):  # PR #4-era files pickled the wrapper
        net = (getattr(net, "_modules", None) or {}).get("module")
    walk = _Walk(reader.storages)
    walk.visit(net, "", 0)
    if not walk.state:
        raise UsageError(f"{path} holds a module without parameters")
    info = {"acc": obj.get("acc"), "epoch": obj.get("epoch"), "classes": sorted(reader.classes)}
    if isinstance(info["acc"], LazyTensor):  # 0.4-era runs stored acc as a tensor
        info["acc"] = float(info["acc"].materialize(reader.storages).item())
    if not isinstance(info["acc"], (int, float, type(None))) or not isinstance(info["epoch"], (int, type(None))):
        raise UsageError(f"{path} records 'acc'/'epoch' of unexpected types (corrupt file)")
    return walk.state, info


def to_model_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The seed's state-dict names as this project's modules name them (only the depthwise conv differs)."""
    return {_DEPTHWISE_KEY.sub(r"\1conv2.", key): value for key, value in state.items()}


def load_t7(path: str | Path) -> tuple[dict[str, torch.Tensor], dict]:
    """(state dict under this project's names, {"acc", "epoch", "classes"}) of an original checkpoint;
    UsageError otherwise."""
    state, info = read_t7(path)
    return to_model_keys(state), info
