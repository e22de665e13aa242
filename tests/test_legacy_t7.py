"""The original .t7 checkpoints, as torch itself writes them, against torch itself as the oracle.

Every fixture is a ``torch.save(..., _use_new_zipfile_serialization=False, pickle_protocol=2)`` of
a model built from a stand-in of the seed's code base (``legacy_writer``), some rewritten into what
only a 2017 GPU machine could write. The oracle is plain ``torch.load(weights_only=False)`` in a
subprocess with the stand-in package importable, running the model on the seed's test transform:
our reader must give the same state dict tensor for tensor, and ``shiftnet eval`` the same
prediction on every real test image.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import pickletools

import pytest
import torch
from typer.testing import CliRunner

from shiftnet.checkpoint import load_checkpoint
from shiftnet.checkpoint.legacy_t7 import read_t7
from shiftnet.cli import app
from shiftnet.data.datasets import MARKER
from shiftnet.models import ModelSpec, create_model
from shiftnet.models.infer import build_from_state

from . import legacy_writer as lw
from .conftest import stderr_of
from .helpers import make_ready_cifar10
from .legacy_package import SEED_MEAN, SEED_STD

runner = CliRunner()
N_IMAGES = 100  # the first real CIFAR-10 test images both sides score (conftest.py's legacy_suite)

SHIFT_HEAD = ["models.resnet.ResNet", "models.shiftresnet.ShiftConv", "models.shiftnet_cuda_v2.nn.GenericShift_cuda"]
# file of legacy_writer.SUITE (what is built and how its stream is rewritten) -> the spec eval must infer
FIXTURES = {
    "shiftresnet20_3.0.t7": ("shiftresnet", {"expansion": 3.0}),
    "shiftresnet20_3.0-cuda.t7": ("shiftresnet", {"expansion": 3.0}),
    "shiftresnet20_3.0-py2.t7": ("shiftresnet", {"expansion": 3.0}),
    "shiftresnet20_3.0-torch03.t7": ("shiftresnet", {"expansion": 3.0}),
    "shiftresnet20_1.0-dataparallel.t7": ("shiftresnet", {"expansion": 1.0}),
    "shiftresnet20_1.0-2017.t7": ("shiftresnet", {"expansion": 1.0}),
    "shiftresnet20_1.0_cifar100.t7": ("shiftresnet", {"expansion": 1.0, "num_classes": 100}),
    "resnet20.t7": ("resnet", {}),
    "resnet20_2.8_block.t7": ("resnet", {"reduction": 2.8}),
    "resnet20_2.9_net.t7": ("resnet", {"reduction": 2.9, "reduction_mode": "net"}),
    "resnet20_3.3-2017.t7": ("resnet", {"reduction": 3.3, "shortcut_rule": "legacy"}),
    "depthwiseresnet20.t7": ("depthwiseresnet", {}),
    "resnet20_1.12_depthwisewithskip.t7": ("depthwiseresnet", {"reduction": 1.12}),
}
ANCHOR = lw.ANCHOR
CIFAR10_FILES = [name for name in FIXTURES if "cifar100" not in name]


@pytest.fixture
def legacy(legacy_suite):
    """The session's .t7 files (every one this module reads: ``legacy_writer.SUITE``) and torch's reading."""
    assert set(FIXTURES) <= set(lw.SUITE)
    return legacy_suite


def _opcodes(data: bytes):
    """(opcode name, argument) of the object pickle (the fourth of the file)."""
    stream = io.BytesIO(data)
    for _ in range(3):
        pickle.load(stream)
    return [(op.name, arg) for op, arg, _ in pickletools.genops(stream)]


def test_legacy_fixtures_have_what_real_files_have(legacy):
    """The fixtures really carry each trait (so the tests below test what they claim)."""
    files = legacy["files"]
    anchor = _opcodes((files / ANCHOR).read_bytes())
    strings = [arg for name, arg in anchor if name == "BINUNICODE"]
    assert "module" in strings and any(s.startswith("class ShiftConv(nn.Module)") for s in strings)
    assert ("GLOBAL", "torch._utils _rebuild_tensor_v2") in anchor and ("GLOBAL", "torch FloatStorage") in anchor
    assert ("GLOBAL", "__builtin__ set") in anchor and "num_batches_tracked" in strings and "cpu" in strings
    cuda = _opcodes((files / "shiftresnet20_3.0-cuda.t7").read_bytes())
    assert ("GLOBAL", "torch.cuda FloatStorage") in cuda and ("GLOBAL", "torch FloatStorage") not in cuda
    assert "cuda:0" in [arg for name, arg in cuda if name == "BINUNICODE"]
    py2 = _opcodes((files / "shiftresnet20_3.0-py2.t7").read_bytes())
    assert not any(name == "BINUNICODE" for name, _ in py2)
    assert {"SHORT_BINSTRING", "BINSTRING"} <= {name for name, _ in py2}
    old = _opcodes((files / "shiftresnet20_1.0-2017.t7").read_bytes())
    globals_ = {arg for name, arg in old if name == "GLOBAL"}
    assert {"torch._utils _rebuild_tensor", "torch.nn.parameter Parameter", "models.resnet ShiftConv",
            "shiftnet_cuda_v2.nn GenericShift_cuda", "torch.cuda FloatStorage"} <= globals_
    assert "torch._utils _rebuild_tensor_v2" not in globals_ and "torch._utils _rebuild_parameter" not in globals_
    assert b"num_batches_tracked" not in (files / "shiftresnet20_1.0-2017.t7").read_bytes()
    assert "torch.nn.parallel.data_parallel DataParallel" in {
        arg for name, arg in _opcodes((files / "shiftresnet20_1.0-dataparallel.t7").read_bytes()) if name == "GLOBAL"}


@pytest.mark.parametrize("name", list(FIXTURES))
def test_legacy_state_dict_and_logits_equal_torch_load(name, legacy):
    """Tensor for tensor what torch.load(...)['net'].state_dict() gives; the model eval builds from
    it (architecture inferred) gives torch's logits."""
    oracle = legacy["oracle"][name]
    path = legacy["files"] / name
    state, info = read_t7(path)
    assert list(state) == list(oracle["state"])
    for key, value in oracle["state"].items():
        assert state[key].dtype == value.dtype and torch.equal(state[key], value), key
    assert info["acc"] == oracle["acc"] and info["epoch"] == oracle["epoch"]
    assert set(oracle["classes"]) <= set(info["classes"])
    ours, spec, meta = load_checkpoint(path)
    arch, fields = FIXTURES[name]
    expected = ModelSpec(arch, 20, **fields)
    assert meta["recorded_accuracy"] == oracle["acc"] and (spec.arch, spec.shortcut_rule, spec.num_classes) == (
        expected.arch, expected.shortcut_rule, expected.num_classes)
    shapes = [(k, v.shape) for k, v in create_model(expected).state_dict().items()]
    # compared by the tensors it builds: r = 1.11 and 1.12 give the same widths, and the shortest is reported
    assert [(k, v.shape) for k, v in create_model(spec).state_dict().items()] == shapes, spec
    model = build_from_state(ours, spec).eval()
    with torch.no_grad():
        logits = model(legacy["oracle"]["inputs"])
    torch.testing.assert_close(logits, oracle["logits"], rtol=1e-5, atol=1e-5)


def _real_subset(cifar_root, folder, count: int):
    """The first ``count`` real test images, in the official order, as a verified data folder."""
    target = folder / "cifar-10-batches-py"
    target.mkdir(parents=True)
    source = cifar_root / "cifar-10-batches-py"
    batch = pickle.loads((source / "test_batch").read_bytes(), encoding="bytes")
    subset = {b"data": batch[b"data"][:count], b"labels": batch[b"labels"][:count],
              b"batch_label": batch[b"batch_label"]}
    (target / "test_batch").write_bytes(pickle.dumps(subset, protocol=2))
    (target / "batches.meta").write_bytes((source / "batches.meta").read_bytes())
    sizes = {p.name: p.stat().st_size for p in target.iterdir()}
    (target / MARKER).write_text(json.dumps({"splits": ["test"], "sizes": sizes}))
    return folder


@pytest.mark.realdata
def test_legacy_eval_agrees_with_torch_image_for_image(legacy, tmp_path):
    """shiftnet eval of every CIFAR-10 fixture: torch's prediction on each real test image (the seed's
    test transform), the same correct count."""
    data = _real_subset(legacy["cifar"], tmp_path / "data", N_IMAGES)
    paths = [str(legacy["files"] / name) for name in CIFAR10_FILES]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the suite's machine is shared: one thread is faster there, and the result is the same
    try:
        result = runner.invoke(app, ["eval", *paths, "--dataset", "cifar10", "--data-dir", str(data), "--json",
                                     "--predictions"])
    finally:
        torch.set_num_threads(threads)
    assert result.exit_code == 0, stderr_of(result)
    rows = {os.path.basename(row["path"]): row for row in map(json.loads, result.stdout.splitlines())}
    assert sorted(rows) == sorted(CIFAR10_FILES)
    for name, row in rows.items():
        oracle = legacy["oracle"][name]
        assert row["total"] == N_IMAGES and row["correct"] == oracle["correct"], name
        assert row["predictions"] == oracle["predictions"].tolist(), name
        assert len(set(row["predictions"])) >= 3, name  # not a constant answer that would agree by accident
        assert row["normalization"]["mean"] == list(SEED_MEAN) and row["normalization"]["std"] == list(SEED_STD)
        assert row["accuracy"] == round(100 * oracle["correct"] / N_IMAGES, 4)


@pytest.fixture
def fake_data(tmp_path, monkeypatch):
    folder = make_ready_cifar10(tmp_path / "data", n_test=40)
    monkeypatch.setenv("SHIFTNET_DATA", str(folder))
    return folder


def test_legacy_eval_table_json_and_batch_size_invariance(legacy, fake_data):
    path = str(legacy["files"] / ANCHOR)
    outputs = []
    for batch in ("7", "500"):
        result = runner.invoke(app, ["eval", path, "--dataset", "cifar10", "--batch-size", batch, "--json"])
        assert result.exit_code == 0, stderr_of(result)
        outputs.append(json.loads(result.stdout))
    assert outputs[0]["correct"] == outputs[1]["correct"] and outputs[0]["loss"] == pytest.approx(outputs[1]["loss"])
    row = outputs[0]
    assert row["total"] == 40 and row["params"] == 95_642 and row["dataset"] == "cifar10"
    assert row["kind"] == "original .t7"
    assert row["seed_accuracy"] == 89.56 and {r["accuracy"] for r in row["seed_refs"]} == {89.56, 90.08}
    assert row["recorded_accuracy"] == 80.0 and "the seed's statistics" in row["normalization"]["source"]
    table = runner.invoke(app, ["eval", path, "--dataset", "cifar10"])
    assert "89.56%" in table.output and "a=3c" in table.output and "/40" in table.output


def test_legacy_convert_keeps_what_the_file_records(legacy, fake_data, tmp_path):
    t7 = legacy["files"] / "resnet20_3.3-2017.t7"
    out = tmp_path / "out.safetensors"
    result = runner.invoke(app, ["convert", str(t7), str(out), "--dataset", "cifar10"])
    assert result.exit_code == 0, stderr_of(result)
    assert "sha256" in result.output
    state, spec, meta = load_checkpoint(out)
    assert spec.shortcut_rule == "legacy" and spec.reduction == 3.3 and meta["kind"] == "converted t7"
    oracle = legacy["oracle"][t7.name]
    assert meta["recorded_accuracy"] == oracle["acc"] and meta["epoch"] == oracle["epoch"]
    assert meta["normalization"]["mean"] == list(SEED_MEAN) and meta["normalization"]["source"] == "metadata"
    assert "models.resnet.BasicBlock" in meta["classes"]
    assert all(torch.equal(state[k], v) for k, v in legacy["oracle"][t7.name]["state"].items())
    again = runner.invoke(app, ["convert", str(t7), str(out), "--dataset", "cifar10"])
    assert again.exit_code == 2 and "already exists" in stderr_of(again)
    rows = [json.loads(runner.invoke(app, ["eval", str(p), "--json", *extra]).stdout)
            for p, extra in ((t7, ["--dataset", "cifar10"]), (out, []))]  # the converted file records it
    assert rows[0]["correct"] == rows[1]["correct"] and rows[0]["loss"] == rows[1]["loss"]
