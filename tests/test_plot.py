"""shiftnet plot: PNGs that open, contain our points, and a clear error without matplotlib."""

from __future__ import annotations

import json
import sys

import pytest
from typer.testing import CliRunner

from shiftnet.cli import app
from shiftnet.plots import seed_points

from .conftest import stderr_of

runner = CliRunner()
PNG = b"\x89PNG\r\n\x1a\n"


def test_seed_points_have_exact_params():
    points = {(p["family"], p["depth"], p["label"]): p for p in seed_points("cifar10")}
    shift20 = points[("ShiftResNet", 20, "3c")]
    assert shift20["params"] == 95_642 and shift20["accuracy"] == 89.56
    assert points[("ResNet (reduced)", 20, "r=2.8")]["params"] == 96_206
    assert points[("ResNet (original)", 110, "")]["accuracy"] == 92.46
    c100 = {(p["family"], p["depth"], p["label"]): p for p in seed_points("cifar100")}
    assert c100[("ShiftResNet", 20, "c")]["params"] == 40_756 and c100[("ShiftResNet", 20, "c")]["accuracy"] == 55.05


def test_accuracy_vs_params_png(tmp_path):
    pytest.importorskip("matplotlib")
    results = tmp_path / "eval.jsonl"
    rows = [
        {"dataset": "cifar10", "arch": "shiftresnet", "knob": "a=3c", "depth": 20, "params": 95_642, "accuracy": 89.0},
        {"dataset": "cifar100", "arch": "resnet", "knob": "original", "depth": 20, "params": 278_324,
         "accuracy": 60.0},
    ]
    results.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = tmp_path / "fig.png"
    result = runner.invoke(app, ["plot", "params", str(results), "--out", str(out)])
    assert result.exit_code == 0, stderr_of(result)
    assert "1 of your points" in result.output and out.read_bytes().startswith(PNG)
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n")
    assert runner.invoke(app, ["plot", "params", str(bad), "--out", str(out)]).exit_code == 2


def test_curves_png(tmp_path):
    pytest.importorskip("matplotlib")
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.csv").write_text("epoch,lr,train_loss,train_acc,test_loss,test_acc,seconds,images_per_s\n"
                                     "0,0.1,2.0,20,1.9,25,1,100\n1,0.1,1.5,40,1.6,38,1,100\n")
    out = tmp_path / "curves.png"
    result = runner.invoke(app, ["plot", "curves", str(run), "--out", str(out)])
    assert result.exit_code == 0, stderr_of(result)
    assert out.read_bytes().startswith(PNG)
    missing = runner.invoke(app, ["plot", "curves", str(tmp_path / "none"), "--out", str(out)])
    assert missing.exit_code == 2 and "not found" in stderr_of(missing)


def test_without_matplotlib(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    result = runner.invoke(app, ["plot", "params", "--out", str(tmp_path / "x.png")])
    assert result.exit_code == 1 and "pip install 'shiftnet[plot]'" in stderr_of(result)
    assert not (tmp_path / "x.png").exists()


def test_plot_bad_dataset(tmp_path):
    result = runner.invoke(app, ["plot", "params", "--dataset", "imagenet", "--out", str(tmp_path / "x.png")])
    assert result.exit_code == 2 and "--dataset must be cifar10 or cifar100" in stderr_of(result)
    assert not (tmp_path / "x.png").exists()


GOOD = {"dataset": "cifar10", "arch": "resnet", "knob": "original", "depth": 20, "params": 272_474, "accuracy": 91.0}
HEADER = "epoch,lr,train_loss,train_acc,test_loss,test_acc,seconds,images_per_s\n"


@pytest.mark.parametrize("kind,content,message", [
    ("params", "5\n", "line 1 is not a JSON object"),
    ("params", "[]\n", "line 1 is not a JSON object"),
    ("params", json.dumps({"dataset": "cifar10"}) + "\n", "line 1: arch must be an architecture name, got None"),
    ("params", json.dumps(dict(GOOD, params="many")) + "\n", "params must be a positive integer, got 'many'"),
    ("params", json.dumps(GOOD) + "\n" + json.dumps(dict(GOOD, accuracy=float("nan"))) + "\n",
     "line 2: accuracy must be a number from 0 to 100, got nan"),
    ("params", json.dumps(dict(GOOD, depth=True)) + "\n", "depth must be a positive integer, got True"),
    ("params", "[" * 100_000 + "\n", "line 1 is not JSON"),
    ("params", b"\xff\xfe\x00binary", "cannot be read as text"),
    ("params", "folder", "is a folder"),
    ("curves", "epoch,lr\n0,0.1\n", "metrics.csv (no column train_loss, train_acc, test_loss, test_acc)"),
    ("curves", HEADER + "0,0.1,x,1,1,1,1,1\n", "line 2: epoch, train_loss, train_acc, test_loss, test_acc must be"),
    ("curves", HEADER + "0,0.1,1,1,1,1,1,1\n0.5,0.1,1,1,1,1,1,1\n", "line 3: epoch must be a whole number"),
    ("curves", HEADER + "0,0.1,1,1,1\n", "must be numbers"),
    ("curves", HEADER, "has no epochs yet"),
    ("curves", b"\xff\xfe\x00binary", "cannot be read as a metrics.csv"),
    ("curves", HEADER + "0," + "9" * 200_000 + "\n", "cannot be read as a metrics.csv"),
    ("curves", "folder", "metrics.csv not found"),
])
def test_malformed_plot_input_is_one_line_exit_2(tmp_path, kind, content, message):
    path = tmp_path / ("input.jsonl" if kind == "params" else "metrics.csv")
    if content == "folder":
        path = tmp_path / "a-folder"
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    out = tmp_path / "out.png"
    result = runner.invoke(app, ["plot", kind, str(path), "--out", str(out)])
    err = stderr_of(result)
    assert result.exit_code == 2 and message in err and len(err.splitlines()) == 1, (result.exit_code, err)
    assert not out.exists()
