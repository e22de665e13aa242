"""Downloads that fail: HTTP errors, a silent server, a full disk, an interrupted install, oversized or
endless answers, and the mirrors and advice that are tried or given instead."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shiftnet.cli import app
from shiftnet.data import datasets as ds
from shiftnet.data import prepare_dataset
from shiftnet.errors import RunError

from .conftest import stderr_of
from .helpers import make_tar, no_retry_wait, server, tiny  # noqa: F401 - fixtures

runner = CliRunner()


def test_404_and_unreachable_host_exit_1(tiny, tmp_path, server, no_retry_wait):
    result = runner.invoke(
        app, ["download", "cifar10", "--to", str(tmp_path / "d"), "--from", server.url("/nothing.tar.gz")]
    )
    assert result.exit_code == 1 and "HTTP 404" in stderr_of(result)
    result = runner.invoke(app, ["download", "cifar10", "--to", str(tmp_path / "d"), "--from", "http://127.0.0.1:9/x.tar.gz"])
    assert result.exit_code == 1 and "download failed" in stderr_of(result)


def test_server_that_never_answers_times_out(tiny, tmp_path, server, no_retry_wait, monkeypatch):
    monkeypatch.setenv("SHIFTNET_HTTP_TIMEOUT", "0.2")  # three tries, each given up after 0.2 s of silence
    server.behaviour["/cifar.tar.gz"] = "hang"
    with pytest.raises(RunError, match="download failed: .*timed out"):
        prepare_dataset("cifar10", tmp_path / "data", server.url("/cifar.tar.gz"))
    assert [path for path, _ in server.requests] == ["/cifar.tar.gz"] * 3
    assert not (tmp_path / "data" / "cifar-10-batches-py").exists()


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_disk_full_during_extraction(tiny, tmp_path, monkeypatch):
    """Every file the extraction writes goes to /dev/full: the kernel's real ENOSPC."""
    from shiftnet.data import archives

    _, archive, info = tiny
    real_open = open

    def full_disk_open(path, mode="r", *args, **kwargs):
        return real_open("/dev/full" if "w" in mode else path, mode, *args, **kwargs)

    monkeypatch.setattr(archives, "open", full_disk_open, raising=False)
    result = runner.invoke(app, ["download", "cifar10", "--to", str(tmp_path / "data"), "--from", str(archive)])
    assert result.exit_code == 1 and "disk full" in stderr_of(result), stderr_of(result)
    assert list((tmp_path / "data").iterdir()) == []
    # and when the free space is known to be too small, nothing is written at all
    monkeypatch.undo()
    monkeypatch.setitem(ds.DATASETS, "cifar10", info)
    almost_full = shutil._ntuple_diskusage(10**9, 10**9, 1000)
    monkeypatch.setattr("shiftnet.data.archives.shutil.disk_usage", lambda path: almost_full)
    result = runner.invoke(app, ["download", "cifar10", "--to", str(tmp_path / "data"), "--from", str(archive)])
    assert result.exit_code == 1 and "disk full: unpacking needs" in stderr_of(result), stderr_of(result)
    assert list((tmp_path / "data").iterdir()) == []


def test_interrupted_install_keeps_the_previous_verified_copy(tiny, tmp_path, monkeypatch):
    files, archive, info = tiny
    data_dir = tmp_path / "data"
    test_only = {k: v for k, v in files.items() if k not in info.train_files}
    prepare_dataset("cifar10", data_dir, str(make_tar(tmp_path / "test-only.tar.gz", test_only)))
    assert ds.ready_splits(data_dir, info) == ["test"]  # so the full archive is installed over it

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("shiftnet.data.prepare.verify_folder", interrupted)
    with pytest.raises(KeyboardInterrupt):
        prepare_dataset("cifar10", data_dir, str(archive))
    assert sorted(p.name for p in data_dir.iterdir()) == [info.folder]  # no staging left behind
    assert ds.ready_splits(data_dir, info) == ["test"]  # the previous verified copy, as it was


def test_mirrors_from_the_environment(tiny, tmp_path, server, no_retry_wait, monkeypatch):
    _, archive, info = tiny
    server.files["/mirror/cifar-10-python.tar.gz"] = archive.read_bytes()
    monkeypatch.setitem(
        ds.DATASETS, "cifar10", ds.DatasetInfo(**{**info.__dict__, "urls": (server.url("/down.tar.gz"),)})
    )
    monkeypatch.setenv("SHIFTNET_CIFAR_MIRRORS", server.url("/mirror/"))
    assert prepare_dataset("cifar10", tmp_path / "data")["splits"] == ["train", "test"]
    assert [p for p, _ in server.requests][-1] == "/mirror/cifar-10-python.tar.gz"


def test_first_use_download_failure_says_how_to_fetch(tmp_path, no_retry_wait, monkeypatch):
    from shiftnet.data import ensure_dataset

    info = ds.DATASETS["cifar10"]
    monkeypatch.setitem(ds.DATASETS, "cifar10", ds.DatasetInfo(**{**info.__dict__, "urls": ("http://127.0.0.1:9/c.tar.gz",)}))
    with pytest.raises(RunError, match="shiftnet download cifar10 --to .* --from ARCHIVE_OR_URL"):
        ensure_dataset("cifar10", tmp_path, "train")


def test_download_caps_refuse_big_and_endless_servers(tiny, tmp_path, server, no_retry_wait, monkeypatch):
    _, archive, _ = tiny
    data = archive.read_bytes()
    cap = len(data) - 1  # one byte short of the archive
    monkeypatch.setattr("shiftnet.data.prepare.CIFAR_MAX_DOWNLOAD", cap)
    server.files["/big.tar.gz"] = data
    server.files["/endless.tar.gz"] = data[:1000]
    server.behaviour["/endless.tar.gz"] = "endless"
    for path, message in (("/big.tar.gz", "announces"), ("/endless.tar.gz", "sent more than")):
        data_dir = tmp_path / path.strip("/")
        result = runner.invoke(app, ["download", "cifar10", "--to", str(data_dir), "--from", server.url(path)])
        err = stderr_of(result)
        assert result.exit_code == 1 and message in err and "cap" in err, err
        assert list(data_dir.iterdir()) == []  # no .part left, nothing else either
        assert [p for p, _ in server.requests].count(path) == 1  # not retried: it would do it again
    # the real cap passes a real-sized file
    monkeypatch.setattr("shiftnet.data.prepare.CIFAR_MAX_DOWNLOAD", len(data))
    ok = runner.invoke(app, ["download", "cifar10", "--to", str(tmp_path / "ok"), "--from", server.url("/big.tar.gz")])
    assert ok.exit_code == 0, stderr_of(ok)
