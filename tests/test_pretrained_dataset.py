"""An original .t7 records no data set: the pretrained registry gives it for a file that ``shiftnet
download checkpoints`` unpacked (eval, convert, load_model need no flag), and any other .t7 needs
--dataset, asked for in one line. No file name is read for it."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from shiftnet import load_model
from shiftnet.checkpoint import load_checkpoint
from shiftnet.cli import app

from . import legacy_writer as lw
from .conftest import stderr_of
from .helpers import make_zip
from .runs import data_dir, one_line  # noqa: F401 - data_dir: a fixture

runner = CliRunner()
# each file's name says the other data set, so a reader that parsed names would fail here
C10, C100 = "shiftresnet20_1.0_cifar100.t7", "resnet20.t7"


@pytest.fixture(scope="module")
def archives(tmp_path_factory):
    """Two tiny .t7 files written by torch as the seed saved them, zipped as two registry archives
    (a CIFAR-10 and a CIFAR-100 one) and unpacked by ``shiftnet download checkpoints``."""
    root = tmp_path_factory.mktemp("pretrained")
    files = root / "files"
    files.mkdir()
    lw.build(lw.write_package(root / "seed"), files, [
        {"file": C10, "arch": "shiftresnet", "depth": 8, "param": 1.0, "classes": 10},
        {"file": C100, "arch": "resnet", "depth": 8, "classes": 100}])
    unpacked = root / "checkpoints"
    for name, member in (("cifar10-shiftresnet-small", C10), ("cifar100-resnet-netwise", C100)):
        archive = make_zip(root / f"{name}.zip", {f"checkpoint/{member}": (files / member).read_bytes()})
        result = runner.invoke(app, ["download", "checkpoints", name, "--to", str(unpacked), "--from", str(archive)])
        assert result.exit_code == 0, stderr_of(result)
    return {"files": files, "c10": unpacked / "cifar10-shiftresnet-small" / "checkpoint" / C10,
            "c100": unpacked / "cifar100-resnet-netwise" / "checkpoint" / C100}


def test_the_registry_gives_the_data_set_of_an_unpacked_t7(archives, data_dir):  # noqa: F811
    _, spec, meta = load_checkpoint(archives["c100"])
    assert (meta["dataset"], meta["archive"], spec.num_classes) == ("cifar100", "cifar100-resnet-netwise", 100)
    row = json.loads(runner.invoke(app, ["eval", str(archives["c10"]), "--json"]).stdout)
    assert (row["dataset"], row["total"]) == ("cifar10", 32)
    assert load_model(archives["c10"]).pretrained_cfg["dataset"] == "cifar10"
    err = one_line(runner.invoke(app, ["eval", str(archives["c10"]), "--dataset", "cifar100"]), 2)
    assert "10-class head but cifar100 has 100 classes" in err


def test_a_t7_of_unknown_origin_needs_dataset(archives, data_dir, tmp_path):  # noqa: F811
    stray = archives["c10"].parent / "copied-in-later.t7"  # inside an unpacked folder, but not from its archive
    shutil.copy(archives["c10"], stray)
    try:
        for path in (archives["files"] / C10, stray):
            err = one_line(runner.invoke(app, ["eval", str(path)]), 2)
            assert f"{path} does not record its data set" in err and "pass --dataset" in err
            err = one_line(runner.invoke(app, ["convert", str(path), str(tmp_path / "x.safetensors")]), 2)
            assert "pass --dataset" in err and not (tmp_path / "x.safetensors").exists()
            assert load_model(path).pretrained_cfg["dataset"] is None
            assert load_model(path, dataset="cifar10").pretrained_cfg["dataset"] == "cifar10"
    finally:
        stray.unlink()
    row = json.loads(
        runner.invoke(app, ["eval", str(archives["files"] / C10), "--dataset", "cifar10", "--json"]).stdout
    )
    assert row["dataset"] == "cifar10"
    result = runner.invoke(app, ["convert", str(archives["files"] / C10), str(tmp_path / "c.safetensors"),
                                 "--dataset", "cifar10"])
    assert result.exit_code == 0, stderr_of(result)
    assert load_checkpoint(tmp_path / "c.safetensors")[2]["dataset"] == "cifar10"  # recorded from now on
