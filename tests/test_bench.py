"""shiftnet bench: the rows it reports and its one-line errors (timings themselves are never asserted)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from shiftnet.bench.shift import shift_shapes
from shiftnet.cli import app
from shiftnet.models import ModelSpec

from .conftest import stderr_of
from .helpers import make_ready_cifar10

runner = CliRunner()


def test_shift_shapes_are_the_model_shift_inputs():
    shapes = shift_shapes(ModelSpec("shiftresnet", 20, expansion=3.0), batch_size=8)
    # stage 1 at 32x32; first blocks of stages 2 and 3 shift at their input resolution (stride in conv2)
    assert shapes == {
        (8, 48, 32, 32): 3, (8, 96, 32, 32): 1, (8, 96, 16, 16): 2, (8, 192, 16, 16): 1, (8, 192, 8, 8): 2,
    }
    assert sum(shift_shapes(ModelSpec("shiftresnet", 110, expansion=1.0), 1).values()) == 54


def test_bench_shift_json_rows():
    result = runner.invoke(app, ["bench", "shift", "--shape", "2,20,8,8", "--dtype", "float32", "--dtype", "bfloat16",
                                 "--repeats", "2", "--json"])
    assert result.exit_code == 0, stderr_of(result)
    data = json.loads(result.stdout)
    assert "threads" in data["machine"] or "CPU" in data["machine"]
    rows = data["rows"]
    expected = {(i, d) for i in ("clone", "torch", "conv") for d in ("float32", "bfloat16")}
    assert {(r["impl"], r["dtype"]) for r in rows} == expected
    for row in rows:
        assert row["fwd_ms"] > 0 and row["fwdbwd_gbps"] > 0 and "fwd_x_clone" in row
    assert all(r["fwd_x_clone"] == 1.0 for r in rows if r["impl"] == "clone")


def test_bench_train_json_rows():
    result = runner.invoke(app, ["bench", "train", "-m", "resnet8", "-m", "shiftresnet8:2", "--batch-size", "4",
                                 "--eval-batch-size", "4", "--steps", "2", "--warmup", "1", "--device", "cpu",
                                 "--json"])
    assert result.exit_code == 0, stderr_of(result)
    rows = json.loads(result.stdout)["rows"]
    assert [(r["model"], r["shift"]) for r in rows] == [("resnet8", "shift"), ("shiftresnet8_e2", "shift"),
                                                          ("shiftresnet8_e2", "identity")]  # the shift-cost twin
    for row in rows:
        assert {"model", "batch_size", "device", "train_images_per_s", "eval_images_per_s"} <= set(row)
        assert row["batch_size"] == 4 and row["device"] == "cpu" and row["steps"] == 2
    table = runner.invoke(app, ["bench", "train", "-m", "resnet8", "--batch-size", "4", "--eval-batch-size", "4",
                                "--steps", "1", "--warmup", "0"], env={"COLUMNS": "140"})
    assert table.exit_code == 0 and "resnet8" in table.output


def test_bench_loader_json(tmp_path):
    data = make_ready_cifar10(tmp_path / "data")
    result = runner.invoke(app, ["bench", "loader", "--data-dir", str(data), "--batch-size", "8", "--model", "resnet8",
                                 "--epochs", "1", "--json"])
    assert result.exit_code == 0, stderr_of(result)
    row = json.loads(result.stdout)
    assert row["source"].startswith("CIFAR-10 train") and row["ratio"] > 0 and row["model"] == "resnet8"


@pytest.mark.parametrize("args,message", [
    (["shift", "--shape", "2,20,8"], "--shape takes N,C,H,W"),
    (["shift", "--dtype", "int8"], "unknown --dtype 'int8'"),
    (["shift", "--impl", "magic", "--shape", "1,9,4,4"], "unknown --impl 'magic'"),
    (["shift", "--impl", "cupy", "--device", "cpu"], "--impl cupy needs a CUDA device"),
    (["shift", "--repeats", "0"], "--repeats must be >= 1"),
    (["train", "--amp", "fp8"], "--amp must be off, bf16 or fp16"),
    (["train", "--steps", "0"], "--steps"),
    (["train", "-m", "resnet21"], "6n+2"),
    (["train", "-m", "shiftresnet20:1e12"], "more than the 100 M"),
    (["loader", "--epochs", "0"], "--epochs and --batch-size must be >= 1, got 0 and 128"),
    (["loader", "--batch-size", "0", "--epochs", "1"], "--epochs and --batch-size must be >= 1"),
    (["loader", "--epochs", "1", "--model", "shiftresnet20:abc"], "after the colon give an expansion"),
    (["shift", "--batch-size", "0"], "--batch-size must be >= 1"),
    (["shift", "--expansion", "0"], "expansion must be a positive number"),
])
def test_bench_bad_inputs(args, message):
    result = runner.invoke(app, ["bench", *args])
    assert result.exit_code == 2, result.output
    err = stderr_of(result)
    assert message in err and len(err.strip().splitlines()) == 1, err
