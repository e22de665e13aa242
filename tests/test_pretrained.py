"""The pretrained registry: ``shiftnet download checkpoints`` fetches, checks and unpacks an archive
safely, and an original .t7 it unpacked gets its data set from the registry (eval, convert and
load_model need no flag), while any other .t7 needs --dataset, asked for in one line. No file name
is read for a data set."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from shiftnet import load_model
from shiftnet.checkpoint import load_checkpoint, pretrained
from shiftnet.cli import app
from shiftnet.errors import UsageError

from .conftest import stderr_of
from .helpers import make_zip, server  # noqa: F401 - server: a fixture
from .runs import data_dir, one_line  # noqa: F401 - data_dir: a fixture

runner = CliRunner()
# each file's name says the other data set, so a reader that parsed names would fail here
C10, C100 = "shiftresnet20_1.0_cifar100.t7", "resnet20.t7"


@pytest.fixture(scope="module")
def archives(tmp_path_factory, legacy_suite):
    """Two tiny .t7 files written by torch as the seed saved them (``legacy_writer.SUITE``'s small ones),
    zipped as two registry archives (a CIFAR-10 and a CIFAR-100 one) and unpacked by ``shiftnet download
    checkpoints``."""
    root = tmp_path_factory.mktemp("pretrained")
    files = legacy_suite["files"] / "small"
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


def test_checkpoint_archives(tmp_path, server):  # noqa: F811
    payload = make_zip(tmp_path / "ck.zip", {"checkpoint/shiftresnet20_3.0.t7": b"x" * 100, "README.txt": b"hi"})
    server.files["/ck.zip"] = payload.read_bytes()
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = tmp_path / "ck" / f".cifar10-resnet-small.staging-{int(ended.stdout)}"  # a killed download's leftover
    dead.mkdir(parents=True)
    result = runner.invoke(app, ["download", "checkpoints", "cifar10-resnet-small", "--to", str(tmp_path / "ck"),
                                 "--from", server.url("/ck.zip")])
    assert result.exit_code == 0, stderr_of(result)
    assert not dead.exists()
    digest = __import__("hashlib").sha256(payload.read_bytes()).hexdigest()
    assert digest in result.stdout and "record it" in result.stdout
    assert (tmp_path / "ck" / "cifar10-resnet-small" / "checkpoint" / "shiftresnet20_3.0.t7").read_bytes() == b"x" * 100
    again = runner.invoke(app, ["download", "checkpoints", "cifar10-resnet-small", "--to", str(tmp_path / "ck")])
    assert "already unpacked" in again.stdout
    # a known sha256 that does not match is refused (the registry knows none yet: an entry that does)
    known = dataclasses.replace(pretrained.registry()["cifar10-resnet-large"], sha256="0" * 64)
    with pytest.raises(UsageError, match=f"ck.zip has sha256 {digest}, expected {'0' * 64}"):
        pretrained.fetch_archive(known, tmp_path / "ck", str(payload), None)
    assert not (tmp_path / "ck" / "cifar10-resnet-large").exists()
    evil = make_zip(tmp_path / "evil.zip", {"../../outside.t7": b"x"})
    result = runner.invoke(
        app, ["download", "checkpoints", "cifar100-resnet-netwise", "--to", str(tmp_path / "ck"), "--from", str(evil)]
    )
    assert result.exit_code == 2 and "outside the target folder" in stderr_of(result)
    link = make_zip(tmp_path / "link.zip", {}, symlinks={"a.t7": "/etc/passwd"})
    result = runner.invoke(
        app, ["download", "checkpoints", "cifar100-resnet-blockwise", "--to", str(tmp_path / "ck"), "--from", str(link)]
    )
    assert result.exit_code == 2 and "link" in stderr_of(result)
    assert runner.invoke(app, ["download", "checkpoints", "nope"]).exit_code == 2
