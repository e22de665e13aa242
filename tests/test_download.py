"""Downloads and extraction against a local HTTP server: success, resume, bad archives, failures."""

from __future__ import annotations

import errno
import os
import pickle
import tarfile
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from shiftnet.cli import app
from shiftnet.data import datasets as ds
from shiftnet.data import load_split, prepare_dataset
from shiftnet.errors import RunError, UsageError

from .conftest import stderr_of
from .helpers import Server, fake_info, make_tar, make_zip, tiny_cifar10_files

runner = CliRunner()


@pytest.fixture
def server():
    srv = Server()
    yield srv
    srv.close()


@pytest.fixture
def tiny(tmp_path, monkeypatch, server):
    """A tiny CIFAR-10 archive served at /cifar.tar.gz and registered as the official one."""
    files = tiny_cifar10_files()
    archive = make_tar(tmp_path / "cifar-10-python.tar.gz", files)
    server.files["/cifar.tar.gz"] = archive.read_bytes()
    info = fake_info(files, archive, urls=[server.url("/missing.tar.gz"), server.url("/cifar.tar.gz")])
    monkeypatch.setitem(ds.DATASETS, "cifar10", info)
    monkeypatch.setenv("SHIFTNET_HTTP_TIMEOUT", "1")
    return files, archive, info


def test_download_verify_and_load(tiny, tmp_path, server):
    files, _, info = tiny
    data_dir = tmp_path / "data"
    result = prepare_dataset("cifar10", data_dir)
    assert result["status"] == "verified" and result["splits"] == ["train", "test"]
    assert (data_dir / info.folder / ds.MARKER).is_file()
    assert [path for path, _ in server.requests] == ["/missing.tar.gz", "/cifar.tar.gz"]  # 404 mirror skipped
    images, labels = load_split(data_dir, "cifar10", train=True)
    assert images.shape == (60, 3, 32, 32) and images.dtype == torch.uint8 and labels.shape == (60,)
    expected = pickle.loads(files["data_batch_1"], encoding="bytes")
    assert torch.equal(images[:12].reshape(12, -1), torch.from_numpy(expected[b"data"]))
    assert labels[:12].tolist() == expected[b"labels"]
    # a second run does nothing and says so
    assert prepare_dataset("cifar10", data_dir)["status"] == "already verified"
    assert len(server.requests) == 2


def test_resume_after_a_cut_connection(tiny, tmp_path, server):
    server.behaviour["/cifar.tar.gz"] = "cut"
    prepare_dataset("cifar10", tmp_path / "data", server.url("/cifar.tar.gz"))
    ranges = [r for p, r in server.requests if p == "/cifar.tar.gz"]
    assert ranges[0] is None and ranges[1] is not None and ranges[1].startswith("bytes=")
    assert int(ranges[1].split("=")[1].rstrip("-")) > 0


def test_server_without_range_support_restarts_cleanly(tiny, tmp_path, server):
    server.behaviour["/cifar.tar.gz"] = "norange"
    part = tmp_path / "data" / "cifar-10-python.tar.gz.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"garbage that is not a prefix")
    prepare_dataset("cifar10", tmp_path / "data")
    assert load_split(tmp_path / "data", "cifar10", train=False)[0].shape[0] == 12


def test_official_archive_with_wrong_md5_is_refused_and_deleted(tiny, tmp_path, server, monkeypatch):
    _, _, info = tiny
    monkeypatch.setitem(ds.DATASETS, "cifar10", ds.DatasetInfo(**{**info.__dict__, "archive_md5": "0" * 32}))
    result = runner.invoke(app, ["download", "cifar10", "--to", str(tmp_path / "data")])
    assert result.exit_code == 2 and "md5" in stderr_of(result)
    assert not (tmp_path / "data" / "cifar-10-python.tar.gz").exists()
    assert not (tmp_path / "data" / info.folder).exists()


def test_wrong_file_md5_leaves_nothing_valid(tiny, tmp_path):
    files, _, info = tiny
    tampered = dict(files, data_batch_3=files["data_batch_3"][:-1] + b"\x00")
    archive = make_tar(tmp_path / "tampered.tar.gz", tampered)
    result = runner.invoke(app, ["download", "cifar10", "--to", str(tmp_path / "data"), "--from", str(archive)])
    assert result.exit_code == 2 and "data_batch_3 has the wrong md5" in stderr_of(result)
    assert len(stderr_of(result).strip().splitlines()) == 1
    assert not (tmp_path / "data" / info.folder).exists()
    assert [p.name for p in (tmp_path / "data").iterdir()] == []  # staging folder removed too


def test_truncated_and_non_tar_archives(tiny, tmp_path):
    _, archive, info = tiny
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(archive.read_bytes()[: len(archive.read_bytes()) // 2])
    notatar = tmp_path / "notatar.tar.gz"
    notatar.write_bytes(b"<html>rate limited</html>")
    for bad in (truncated, notatar):
        result = runner.invoke(app, ["download", "cifar10", "--to", str(tmp_path / "data"), "--from", str(bad)])
        assert result.exit_code == 2 and "not a complete tar archive" in stderr_of(result), stderr_of(result)
        assert not (tmp_path / "data" / info.folder).exists()


def test_path_traversal_and_links_are_refused(tiny, tmp_path):
    files, _, _ = tiny
    escape = tarfile.TarInfo("../escaped.txt")
    escape.size = 4
    link = tarfile.TarInfo("cifar-10-batches-py/evil")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    absolute = tarfile.TarInfo("/tmp/shiftnet-absolute.txt")
    absolute.size = 4
    device = tarfile.TarInfo("cifar-10-batches-py/dev")
    device.type = tarfile.CHRTYPE
    cases = {"dotdot": ((escape, b"evil"), "outside the target folder"), "symlink": ((link, None), "is a link"),
             "absolute": ((absolute, b"evil"), "absolute path"), "device": ((device, None), "special file")}
    for name, (member, message) in cases.items():
        archive = make_tar(tmp_path / f"{name}.tar.gz", files, extra=[member])
        data_dir = tmp_path / f"data-{name}"
        result = runner.invoke(app, ["download", "cifar10", "--to", str(data_dir), "--from", str(archive)])
        assert result.exit_code == 2 and message in stderr_of(result), (name, stderr_of(result))
        assert not (tmp_path / "escaped.txt").exists() and not Path("/tmp/shiftnet-absolute.txt").exists()
        assert not data_dir.exists() or list(data_dir.iterdir()) == []


def test_404_and_unreachable_host_exit_1(tiny, tmp_path, server, monkeypatch):
    monkeypatch.setattr("shiftnet.data.fetch.time.sleep", lambda s: None)
    result = runner.invoke(app, ["download", "cifar10", "--to", str(tmp_path / "d"), "--from", server.url("/nothing.tar.gz")])
    assert result.exit_code == 1 and "HTTP 404" in stderr_of(result)
    result = runner.invoke(app, ["download", "cifar10", "--to", str(tmp_path / "d"), "--from", "http://127.0.0.1:9/x.tar.gz"])
    assert result.exit_code == 1 and "download failed" in stderr_of(result)


def test_server_that_never_answers_times_out(tiny, tmp_path, server, monkeypatch):
    monkeypatch.setattr("shiftnet.data.fetch.time.sleep", lambda s: None)
    server.behaviour["/cifar.tar.gz"] = "hang"
    with pytest.raises(RunError, match="download failed"):
        prepare_dataset("cifar10", tmp_path / "data", server.url("/cifar.tar.gz"))
    assert not (tmp_path / "data" / "cifar-10-batches-py").exists()


def test_disk_full_during_extraction(tiny, tmp_path, monkeypatch):
    _, archive, info = tiny

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("shiftnet.data.archives.shutil.copyfileobj", full)
    result = runner.invoke(app, ["download", "cifar10", "--to", str(tmp_path / "data"), "--from", str(archive)])
    assert result.exit_code == 1 and "disk full" in stderr_of(result)
    assert list((tmp_path / "data").iterdir()) == []


def test_interrupted_install_keeps_the_previous_verified_copy(tiny, tmp_path, monkeypatch):
    _, archive, info = tiny
    data_dir = tmp_path / "data"
    prepare_dataset("cifar10", data_dir, str(archive))
    (data_dir / info.folder / ds.MARKER).unlink()  # pretend it needs redoing

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("shiftnet.data.prepare.verify_folder", interrupted)
    with pytest.raises(KeyboardInterrupt):
        prepare_dataset("cifar10", data_dir, str(archive))
    assert sorted(p.name for p in data_dir.iterdir()) == [info.folder]  # no staging left behind
    assert ds.ready_splits(data_dir, info) == []  # and nothing claims to be verified


def test_malicious_pickle_in_the_data_is_refused(tiny, tmp_path, monkeypatch):
    files, _, _ = tiny
    sentinel = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {sentinel}",))

    evil = dict(files, test_batch=pickle.dumps(Evil(), protocol=2))
    info = ds.DATASETS["cifar10"]
    monkeypatch.setitem(ds.DATASETS, "cifar10", ds.DatasetInfo(**{**info.__dict__, "test_files": {"test_batch": __import__("hashlib").md5(evil["test_batch"]).hexdigest()}}))
    prepare_dataset("cifar10", tmp_path / "data", str(make_tar(tmp_path / "evil.tar.gz", evil)))
    with pytest.raises(UsageError, match="refusing unsafe"):
        load_split(tmp_path / "data", "cifar10", train=False)
    assert not sentinel.exists()


def test_missing_dataset_message(tmp_path):
    with pytest.raises(UsageError, match="shiftnet download cifar10"):
        load_split(tmp_path, "cifar10", train=True)
    with pytest.raises(UsageError, match="unknown dataset"):
        load_split(tmp_path, "imagenet", train=True)


def test_checkpoint_archives(tmp_path, server, monkeypatch):
    from shiftnet.data import pretrained

    payload = make_zip(tmp_path / "ck.zip", {"checkpoint/shiftresnet20_3.0.t7": b"x" * 100, "README.txt": b"hi"})
    server.files["/ck.zip"] = payload.read_bytes()
    result = runner.invoke(app, ["download", "checkpoints", "cifar10-resnet-small", "--to", str(tmp_path / "ck"),
                                 "--from", server.url("/ck.zip")])
    assert result.exit_code == 0, stderr_of(result)
    digest = __import__("hashlib").sha256(payload.read_bytes()).hexdigest()
    assert digest in result.stdout and "record it" in result.stdout
    assert (tmp_path / "ck" / "cifar10-resnet-small" / "checkpoint" / "shiftresnet20_3.0.t7").read_bytes() == b"x" * 100
    again = runner.invoke(app, ["download", "checkpoints", "cifar10-resnet-small", "--to", str(tmp_path / "ck")])
    assert "already unpacked" in again.stdout
    # a known sha256 that does not match is refused
    entries = pretrained.registry()
    bad = {k: (v if k != "cifar10-resnet-large" else pretrained.PretrainedArchive(**{**v.__dict__, "sha256": "0" * 64}))
           for k, v in entries.items()}
    monkeypatch.setattr(pretrained, "registry", lambda: bad)
    result = runner.invoke(app, ["download", "checkpoints", "cifar10-resnet-large", "--to", str(tmp_path / "ck"), "--from", str(payload)])
    assert result.exit_code == 2 and "expected 0000" in stderr_of(result)
    evil = make_zip(tmp_path / "evil.zip", {"../../outside.t7": b"x"})
    result = runner.invoke(app, ["download", "checkpoints", "cifar100-resnet-netwise", "--to", str(tmp_path / "ck"), "--from", str(evil)])
    assert result.exit_code == 2 and "outside the target folder" in stderr_of(result)
    link = make_zip(tmp_path / "link.zip", {}, symlinks={"a.t7": "/etc/passwd"})
    result = runner.invoke(app, ["download", "checkpoints", "cifar100-resnet-blockwise", "--to", str(tmp_path / "ck"), "--from", str(link)])
    assert result.exit_code == 2 and "link" in stderr_of(result)
    assert runner.invoke(app, ["download", "checkpoints", "nope"]).exit_code == 2


@pytest.mark.realdata
def test_real_cifar_archives(shared_data, tmp_path):
    result = prepare_dataset("cifar10", tmp_path, str(shared_data / "cifar-10-python.tar.gz"))
    assert result["splits"] == ["train", "test"]
    images, labels = load_split(tmp_path, "cifar10", train=False)
    assert images.shape == (10_000, 3, 32, 32) and labels.bincount().tolist() == [1000] * 10
    result = prepare_dataset("cifar100", tmp_path, str(shared_data / "cifar-100-python-test-only.tar.gz"))
    assert result["splits"] == ["test"]
    assert load_split(tmp_path, "cifar100", train=False)[1].max() == 99


def test_mirrors_from_the_environment(tiny, tmp_path, server, monkeypatch):
    _, archive, info = tiny
    server.files["/mirror/cifar-10-python.tar.gz"] = archive.read_bytes()
    monkeypatch.setitem(ds.DATASETS, "cifar10", ds.DatasetInfo(**{**info.__dict__, "urls": (server.url("/down.tar.gz"),)}))
    monkeypatch.setenv("SHIFTNET_CIFAR_MIRRORS", server.url("/mirror/"))
    monkeypatch.setattr("shiftnet.data.fetch.time.sleep", lambda s: None)
    assert prepare_dataset("cifar10", tmp_path / "data")["splits"] == ["train", "test"]
    assert [p for p, _ in server.requests][-1] == "/mirror/cifar-10-python.tar.gz"


def test_first_use_download_failure_says_how_to_fetch(tmp_path, monkeypatch):
    from shiftnet.data import ensure_dataset

    info = ds.DATASETS["cifar10"]
    monkeypatch.setitem(ds.DATASETS, "cifar10", ds.DatasetInfo(**{**info.__dict__, "urls": ("http://127.0.0.1:9/c.tar.gz",)}))
    monkeypatch.setattr("shiftnet.data.fetch.time.sleep", lambda s: None)
    with pytest.raises(RunError, match="shiftnet download cifar10 --to .* --from ARCHIVE_OR_URL"):
        ensure_dataset("cifar10", tmp_path, "train")
