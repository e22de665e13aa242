"""Export that deploys: the shift in standard operators, files checked by the runtimes that run them,
``load_model`` in one line, and ``bench infer``'s rows. Oracles: the eager op (itself checked against
an independent one-hot convolution in test_shift.py), onnx's own checker and onnxruntime, torch.jit.load,
torch.export.load."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import shiftnet
from shiftnet import export as export_module
from shiftnet.checkpoint import save_weights
from shiftnet.cli import app
from shiftnet.errors import RunError
from shiftnet.export import JIT_DEPRECATION
from shiftnet.kernels import shift
from shiftnet.kernels.portable import shift_portable
from shiftnet.loading import load_model
from shiftnet.models import ModelSpec, create_model

from .conftest import stderr_of

runner = CliRunner()
SPEC = ModelSpec("shiftresnet", 8, expansion=2.0)


def _bits(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous().view(-1).view(torch.uint8)


@pytest.mark.parametrize("channels", [1, 5, 9, 20, 50])
def test_portable_shift_is_the_shift_bit_for_bit(channels):
    for kernel_size, dilation in [(1, 1), (3, 1), (3, 2), (5, 1), (3, 9)]:
        for n, h, w in [(1, 7, 9), (3, 8, 8), (2, 1, 1)]:
            x = torch.randn(n, channels, h, w)
            x.view(-1)[:4] = torch.tensor([float("nan"), float("inf"), -0.0, float("-inf")])[: x.numel()]
            assert torch.equal(_bits(shift_portable(x, kernel_size, dilation)), _bits(shift(x, kernel_size, dilation)))


@pytest.fixture
def checkpoint(tmp_path) -> tuple[Path, torch.nn.Module]:
    torch.manual_seed(0)
    model = create_model(SPEC).eval()
    with torch.no_grad():  # non-trivial BN statistics, so eval mode matters
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    path = tmp_path / "weights.safetensors"
    save_weights(path, model, SPEC, dataset="cifar10")
    return path, model


def test_onnx_file_holds_standard_operators_only_and_runs_in_onnxruntime(checkpoint, tmp_path):
    onnx = pytest.importorskip("onnx")
    onnxruntime = pytest.importorskip("onnxruntime")
    path, model = checkpoint
    result = runner.invoke(app, ["export", str(path), "--format", "onnx", "--images", "64",
                                 "--data-dir", str(tmp_path / "none")])
    assert result.exit_code == 0, stderr_of(result)
    assert "64/64 predictions equal" in result.stdout and "random images" in result.stdout
    out = tmp_path / "weights.onnx"
    graph = onnx.load(str(out))
    onnx.checker.check_model(graph)
    assert {node.domain for node in graph.graph.node} <= {"", "ai.onnx"}, "a non-standard operator was exported"
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    images = torch.randn(5, 3, 32, 32)
    got = torch.from_numpy(session.run(None, {session.get_inputs()[0].name: images.numpy()})[0])
    torch.testing.assert_close(got, model(images).detach(), rtol=1e-4, atol=1e-4)
    assert not list(tmp_path.glob(".*.tmp*")), "a temporary file was left behind"


def test_torchscript_and_pt2_files_run_where_shiftnet_cannot_be_imported(checkpoint, tmp_path):
    """Both files, loaded by torch alone (one process for both: starting one costs more than the checks)."""
    path, model = checkpoint
    loads = {"torchscript": "torch.jit.load", "pt2": "lambda path: torch.export.load(path).module()"}
    with warnings.catch_warnings(record=True) as torchs_own:  # does this torch deprecate TorchScript? torch says
        warnings.simplefilter("always")
        torch.jit.trace(torch.nn.Linear(1, 1), torch.zeros(1, 1))
    deprecated = any(issubclass(item.category, FutureWarning) for item in torchs_own)
    for fmt in loads:
        with warnings.catch_warnings(record=True) as shown:
            warnings.simplefilter("always")
            result = runner.invoke(app, ["export", str(path), "--format", fmt, "--out",
                                         str(tmp_path / f"model.{fmt}"), "--images", "16", "--data-dir",
                                         str(tmp_path / "none")])
        assert result.exit_code == 0, stderr_of(result)
        assert not [item for item in shown if "torch.jit" in str(item.message)], fmt  # no multi-line warnings
        notes = [line for line in result.stdout.splitlines() if line.startswith("note: ")]
        assert notes == (["note: " + JIT_DEPRECATION] if fmt == "torchscript" and deprecated else []), notes
    blocker = tmp_path / "blocker" / "shiftnet"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('shiftnet must not be needed to run an exported file')\n")
    images = torch.randn(3, 3, 32, 32)
    torch.save(images, tmp_path / "images.pt")
    code = "; ".join(["import sys, torch", f"images = torch.load({str(tmp_path / 'images.pt')!r})"] + [
        f"torch.save(({load})({str(tmp_path / f'model.{fmt}')!r})(images), {str(tmp_path / f'{fmt}.pt')!r})"
        for fmt, load in loads.items()])
    env = {**os.environ, "PYTHONPATH": str(blocker.parent)}
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    for fmt in loads:
        assert torch.equal(torch.load(tmp_path / f"{fmt}.pt"), model(images).detach()), fmt


def test_a_failing_torchscript_call_still_shows_its_other_warnings():
    """torch's deprecation becomes the note, and a warning that explains a failure is not swallowed with it."""
    notes: list[str] = []
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        with pytest.raises(RuntimeError, match="trace failed"):
            with export_module._torchscript_calls(notes):
                warnings.warn("explains the failure", UserWarning)
                warnings.warn("`torch.jit.trace` is deprecated", FutureWarning)
                raise RuntimeError("trace failed")
    assert [str(item.message) for item in shown] == ["explains the failure"] and notes == [JIT_DEPRECATION]


class ExportsDifferently(torch.nn.Module):
    """A model whose exported file flips every logit (what it computes while torch.export traces it)."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # export names the input x, as the models do
        logits = self.model(x)
        return -logits if torch.compiler.is_exporting() else logits


def test_a_file_that_disagrees_is_never_written(checkpoint, tmp_path):
    _, model = checkpoint
    out = tmp_path / "m.pt2"
    out.write_bytes(b"the user's earlier file")
    with pytest.raises(RunError, match="disagrees with PyTorch"):
        export_module.export_checked(ExportsDifferently(model), "pt2", out, torch.randn(8, 3, 32, 32))
    assert out.read_bytes() == b"the user's earlier file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt2", "weights.safetensors"]


@pytest.mark.parametrize("args, message", [
    (["--format", "tflite"], "--format must be one of onnx, torchscript, pt2"),
    (["--images", "0"], "--images must be >= 1"),
    (["--out", "{ckpt}"], "is the checkpoint itself"),
    (["--out", "{tmp}/no/such/folder/m.onnx"], "not a file in an existing folder"),
])
def test_export_bad_inputs_fail_in_one_line(checkpoint, tmp_path, args, message):
    path, _ = checkpoint
    args = [a.format(ckpt=path, tmp=tmp_path) for a in args]
    result = runner.invoke(app, ["export", str(path), *args])
    assert result.exit_code == 2, result.output
    assert message in stderr_of(result) and len(stderr_of(result).strip().splitlines()) == 1


def test_load_model_attaches_spec_and_preprocessing(tmp_path, monkeypatch):
    from .helpers import train_tiny_run

    out = train_tiny_run(tmp_path, monkeypatch, "--arch", "shiftresnet8", "--expansion", "2")
    model = shiftnet.load_model(out)  # the one-line public name
    assert not model.training and model.spec == ModelSpec("shiftresnet", 8, expansion=2.0).validated()
    cfg = model.pretrained_cfg
    assert cfg["checkpoint"].endswith("final.safetensors") and cfg["dataset"] == "cifar10"
    assert cfg["input_size"] == (3, 32, 32)
    # the seed's CIFAR-10 statistics (the default normalisation), as the original's main.py had them
    assert cfg["mean"] == pytest.approx((0.4914, 0.4822, 0.4465))
    assert cfg["std"] == pytest.approx((0.2023, 0.1994, 0.2010))
    assert load_model(out / "last.pt").pretrained_cfg["kind"].startswith("last")


def test_bench_infer_rows():
    pytest.importorskip("onnxruntime")
    result = runner.invoke(app, ["bench", "infer", "-m", "resnet8", "-m", "shiftresnet8:1", "--batch-size", "1",
                                 "--batch-size", "4", "--repeats", "1", "--json"])
    assert result.exit_code == 0, stderr_of(result)
    rows = json.loads(result.stdout)["rows"]
    assert sorted((r["model"], r["runtime"], r["batch_size"]) for r in rows) == sorted(
        (m, rt, b) for m in ("resnet8", "shiftresnet8_e1") for rt in ("eager", "onnx") for b in (1, 4))
    assert all(r["ms"] > 0 and r["images_per_s"] > 0 for r in rows)
    assert all(r["x_resnet8"] == 1.0 for r in rows if r["model"] == "resnet8")
