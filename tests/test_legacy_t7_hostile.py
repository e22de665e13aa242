"""Hostile and broken .t7 files: the reader refuses them before anything from the file runs.

A legacy pickle can name any global and embed module source text (docs/original.md#checkpoints);
the reader (``checkpoint.t7_pickle``) allows only the seed's module classes and torch's storage
and tensor rebuilders. Each test edits a real torch-written file (``legacy_writer``) into an attack or
a damaged file (``legacy_stream``) and checks the one-line refusal, and that nothing ran.
"""

from __future__ import annotations

import os

import pytest
import torch
from typer.testing import CliRunner

from shiftnet.checkpoint.legacy_t7 import MAX_DEPTH, read_t7
from shiftnet.cli import app
from shiftnet.errors import UsageError

from . import legacy_writer as lw
from .conftest import stderr_of
from .legacy_stream import RawPid, rewrite, sym

runner = CliRunner()


@pytest.fixture(scope="module")
def legacy(legacy_suite):
    """One file as the seed's main.py saved it (ShiftResNet20, a = 3c: the suite's anchor) and the state
    dict read from it."""
    return {"anchor": legacy_suite["anchor"], "state": read_t7(legacy_suite["files"] / lw.ANCHOR)[0]}


def _hostile(legacy, tmp_path, edit, name="hostile.t7") -> object:
    path = tmp_path / name
    path.write_bytes(rewrite(legacy["anchor"], edit=edit))
    return path


def test_legacy_payload_behind_a_module_id_is_refused_before_it_runs(legacy, tmp_path):
    sentinel = tmp_path / "pwned"

    def payload(tree, _ids):
        system = sym("posix", "system")(f"touch {sentinel}")
        tree["net"] = RawPid(("module", system, "resnet.py", "class ResNet: pass"))

    with pytest.raises(UsageError, match="refusing unsafe checkpoint.*posix.system"):
        read_t7(_hostile(legacy, tmp_path, payload))

    def not_a_class(tree, _ids):
        tree["net"] = RawPid(("module", "models.resnet.ResNet", "resnet.py", "class ResNet: pass"))

    with pytest.raises(UsageError, match="module id names 'models.resnet.ResNet', not an allowed class"):
        read_t7(_hostile(legacy, tmp_path, not_a_class))
    assert not sentinel.exists()


def test_legacy_source_text_in_module_ids_is_never_run(legacy, tmp_path):
    sentinel = tmp_path / "pwned"

    def source(_tree, ids):
        for cls in ids:
            ids[cls] = ("/seed/models/resnet.py", f"import os\nos.system('touch {sentinel}')\n")

    state, _ = read_t7(_hostile(legacy, tmp_path, source))
    assert not sentinel.exists()
    assert all(torch.equal(state[k], v) for k, v in legacy["state"].items())


def test_legacy_other_persistent_ids_are_refused(legacy, tmp_path):
    def other(tree, _ids):
        tree["net"].state["_modules"]["linear"] = RawPid(("evil", "x"))

    with pytest.raises(UsageError, match="unexpected persistent id 'evil'"):
        read_t7(_hostile(legacy, tmp_path, other))


def test_legacy_malicious_globals_are_refused_and_nothing_runs(tmp_path):
    """A torch.save of objects that reduce to os.system / eval: refused at the first global."""
    sentinel = tmp_path / "pwned"

    class Reduce:
        def __init__(self, fn, args):
            self.fn, self.args = fn, args

        def __reduce__(self):
            return self.fn, self.args

    for fn, arg in ((os.system, f"touch {sentinel}"), (eval, f"__import__('os').system('touch {sentinel}')")):
        path = tmp_path / "evil.t7"
        torch.save({"net": Reduce(fn, (arg,)), "acc": 1.0, "epoch": 0}, path, _use_new_zipfile_serialization=False,
                   pickle_protocol=2)
        refused = r"refusing unsafe checkpoint.*(posix|os|builtins|__builtin__)\.(system|eval)"
        with pytest.raises(UsageError, match=refused):
            read_t7(path)
        result = runner.invoke(app, ["eval", str(path)])
        assert result.exit_code == 2 and "refusing unsafe" in stderr_of(result)
        assert len(stderr_of(result).strip().splitlines()) == 1
    assert not sentinel.exists()


def _sequential(child):
    sequential = sym("torch.nn.modules.container", "Sequential")
    module = sequential.__new__(sequential)
    module.state = {"_parameters": {}, "_buffers": {}, "_modules": {"0": child}}
    return module


def _shared(tree, _ids):
    modules = tree["net"].state["_modules"]
    modules["layer2"] = modules["layer1"]


def _cyclic(tree, _ids):
    tree["net"].state["_modules"]["layer1"].state["_modules"]["back"] = tree["net"]


def _deep(tree, _ids):
    child = tree["net"].state["_modules"]["linear"]
    for _ in range(MAX_DEPTH + 5):
        child = _sequential(child)
    tree["net"].state["_modules"]["linear"] = child


def _huge_tensor(tree, _ids):
    weight = tree["net"].state["_modules"]["linear"].state["_parameters"]["weight"]
    tensor = weight.args[0]
    tensor.args = (tensor.args[0], 0, (100_000, 100_000), (0, 0), *tensor.args[4:])


@pytest.mark.parametrize("edit,message", [(_shared, "appears twice"), (_cyclic, "appears twice"),
                                          (_deep, "larger than any of the seed's nets"),
                                          (_huge_tensor, "reaches past its storage")])
def test_legacy_hostile_trees_are_bounded(edit, message, legacy, tmp_path):
    """A few kB may not make the reader build a huge or endless tree, or a tensor beyond its bytes."""
    path = _hostile(legacy, tmp_path, edit)
    assert path.stat().st_size < 2 * len(legacy["anchor"])
    with pytest.raises(UsageError, match=message):
        read_t7(path)


@pytest.mark.parametrize("damage,message", [
    (lambda b: b[: len(b) // 2], "truncated"),
    (lambda b: b[:40], "truncated|not a legacy"),
    (lambda b: b"garbage" * 10, "not a checkpoint shiftnet reads"),
    (lambda b: b"PK\x03\x04" + b"\x00" * 40, "is a zip archive"),
], ids=["half", "header-only", "garbage", "zip"])
def test_legacy_broken_files(damage, message, legacy, tmp_path):
    path = tmp_path / "broken.t7"
    path.write_bytes(damage(legacy["anchor"]))
    with pytest.raises(UsageError, match=message):
        read_t7(path)
    result = runner.invoke(app, ["eval", str(path)])
    assert result.exit_code == 2 and len(stderr_of(result).strip().splitlines()) == 1
