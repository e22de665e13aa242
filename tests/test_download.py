"""Downloads and extraction against a local HTTP server: success, resume, bad archives, failures."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import pickle
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from shiftnet.cli import app
from shiftnet.data import datasets as ds
from shiftnet.data import ensure_dataset, load_split, prepare_dataset
from shiftnet.data.archives import staging_folder
from shiftnet.errors import UsageError

from .conftest import stderr_of
from .helpers import make_tar, no_retry_wait, server, tiny  # noqa: F401 - fixtures

runner = CliRunner()


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


def test_resume_after_a_cut_connection(tiny, tmp_path, server, no_retry_wait):
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


def _repacked(path: Path, files: dict[str, bytes]) -> Path:
    """The same files, packed again in another order at another compression level: another archive md5."""
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        for name in reversed(list(files)):
            member = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            member.size, member.mtime = len(files[name]), 1_500_000_000
            tar.addfile(member, io.BytesIO(files[name]))
    return path


def test_repacked_archive_already_in_the_data_folder_is_accepted_and_kept(tiny, tmp_path, server):
    files, archive, info = tiny
    for way in ("download", "train"):
        data_dir = tmp_path / way
        data_dir.mkdir()
        mine = _repacked(data_dir / info.archive, files)
        before = mine.read_bytes()
        assert hashlib.md5(before).hexdigest() != hashlib.md5(archive.read_bytes()).hexdigest() == info.archive_md5
        if way == "download":
            result = runner.invoke(app, ["download", "cifar10", "--to", str(data_dir)])
            assert result.exit_code == 0, stderr_of(result)
            assert "not downloaded" in result.stdout and "downloaded cifar" not in result.stdout
        else:
            ensure_dataset("cifar10", data_dir, "train")  # what `train` runs on first use
        assert mine.read_bytes() == before  # the user's archive is still there, unchanged
        assert load_split(data_dir, "cifar10", train=True)[0].shape[0] == 60
    assert server.requests == []  # nothing was downloaded


def test_bad_archive_already_in_the_data_folder_is_kept(tiny, tmp_path, server):
    files, _, info = tiny
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    bad = make_tar(data_dir / info.archive, dict(files, data_batch_2=files["data_batch_2"][:-1] + b"\x01"))
    before = bad.read_bytes()
    result = runner.invoke(app, ["download", "cifar10", "--to", str(data_dir)])
    err = stderr_of(result)
    assert result.exit_code == 2 and "data_batch_2 has the wrong md5" in err and "left as it is" in err, err
    assert "downloaded" not in err and len(err.strip().splitlines()) == 1
    assert bad.read_bytes() == before and sorted(p.name for p in data_dir.iterdir()) == [info.archive]
    with pytest.raises(UsageError, match="left as it is"):
        ensure_dataset("cifar10", data_dir, "train")
    assert bad.read_bytes() == before and server.requests == []
    # --from URL would overwrite it under the same name: refused, the file kept
    result = runner.invoke(app, ["download", "cifar10", "--to", str(data_dir), "--from", server.url("/cifar.tar.gz")])
    assert result.exit_code == 2 and "would replace it" in stderr_of(result) and bad.read_bytes() == before


def test_bad_download_is_deleted_and_the_next_mirror_tried(tiny, tmp_path, server, monkeypatch):
    files, archive, info = tiny
    bad = make_tar(tmp_path / "bad.tar.gz", dict(files, test_batch=b"not the file"))
    server.files["/bad.tar.gz"] = bad.read_bytes()
    server.files["/mirror/cifar-10-python.tar.gz"] = _repacked(tmp_path / "repacked.tar.gz", files).read_bytes()
    monkeypatch.setitem(ds.DATASETS, "cifar10", dataclasses.replace(info, urls=(server.url("/bad.tar.gz"),)))
    monkeypatch.setenv("SHIFTNET_CIFAR_MIRRORS", server.url("/mirror/"))
    data_dir = tmp_path / "data"
    result = runner.invoke(app, ["download", "cifar10", "--to", str(data_dir)])
    assert result.exit_code == 0, stderr_of(result)
    lines = stderr_of(result).strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"trying mirror {server.url('/mirror/cifar-10-python.tar.gz')}")
    assert "test_batch has the wrong md5" in lines[0] and "deleted it" in lines[0]
    # the mirror's re-packed archive (its md5 is not the official one) passed on its files' md5s
    assert (data_dir / info.archive).read_bytes() == server.files["/mirror/cifar-10-python.tar.gz"]
    assert json.loads((data_dir / info.folder / ds.MARKER).read_text())["official_archive"] is False
    # every source bad: exit 2, and what this run downloaded is deleted
    monkeypatch.setenv("SHIFTNET_CIFAR_MIRRORS", server.url("/bad.tar.gz#"))
    result = runner.invoke(app, ["download", "cifar10", "--to", str(tmp_path / "d2")])
    assert result.exit_code == 2 and "no download passed verification" in stderr_of(result), stderr_of(result)
    assert list((tmp_path / "d2").iterdir()) == []


def test_first_use_download_reports_the_mirror_on_stderr(tiny, tmp_path, server, monkeypatch, capfd):
    _, archive, info = tiny
    server.files["/mirror/cifar-10-python.tar.gz"] = archive.read_bytes()
    monkeypatch.setitem(ds.DATASETS, "cifar10", dataclasses.replace(info, urls=(server.url("/gone.tar.gz"),)))
    monkeypatch.setenv("SHIFTNET_CIFAR_MIRRORS", server.url("/mirror"))
    ensure_dataset("cifar10", tmp_path / "data", "train")
    err = capfd.readouterr().err.strip().splitlines()
    assert err == [f"trying mirror {server.url('/mirror/cifar-10-python.tar.gz')} ({server.url('/gone.tar.gz')}: "
                   f"HTTP 404 Not Found)"]


def test_hand_unpacked_folder_is_verified_in_place_and_altered_data_noticed(tiny, tmp_path, server):
    files, _, info = tiny
    folder = tmp_path / "data" / info.folder
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    result = runner.invoke(app, ["download", "cifar10", "--to", str(tmp_path / "data")])
    assert result.exit_code == 0 and "from the files already in the folder" in result.stdout, result.stdout
    assert server.requests == [] and load_split(tmp_path / "data", "cifar10", train=False)[0].shape[0] == 12
    # data altered after verification: every load notices, nothing is replaced
    (folder / "test_batch").write_bytes(files["test_batch"][:-100])
    with pytest.raises(UsageError, match="changed after it was verified .test_batch is"):
        load_split(tmp_path / "data", "cifar10", train=False)
    with pytest.raises(UsageError, match="changed after it was verified"):
        ensure_dataset("cifar10", tmp_path / "data", "test")
    result = runner.invoke(app, ["download", "cifar10", "--to", str(tmp_path / "data")])
    assert result.exit_code == 2 and "left as it is" in stderr_of(result)
    assert (folder / "test_batch").read_bytes() == files["test_batch"][:-100] and server.requests == []
    # restored: accepted again, without a download
    (folder / "test_batch").write_bytes(files["test_batch"])
    assert load_split(tmp_path / "data", "cifar10", train=False)[0].shape[0] == 12
    # a marker of an older version (no sizes) is still trusted
    marker = folder / ds.MARKER
    marker.write_text(json.dumps({"splits": ["train", "test"]}))
    assert ds.ready_splits(tmp_path / "data", info) == ["train", "test"]


def test_wrong_file_md5_leaves_nothing_valid(tiny, tmp_path):
    files, _, info = tiny
    tampered = dict(files, data_batch_3=files["data_batch_3"][:-1] + b"\x00")
    archive = make_tar(tmp_path / "tampered.tar.gz", tampered)
    result = runner.invoke(app, ["download", "cifar10", "--to", str(tmp_path / "data"), "--from", str(archive)])
    assert result.exit_code == 2 and "data_batch_3 has the wrong md5" in stderr_of(result)
    assert len(stderr_of(result).strip().splitlines()) == 1
    assert not (tmp_path / "data" / info.folder).exists()
    assert [p.name for p in (tmp_path / "data").iterdir()] == []  # staging folder removed too


def test_a_killed_extractions_staging_folder_is_removed_by_the_next_download(tiny, tmp_path):
    """What ``kill -9`` leaves in the data folder mid-extraction (a real process that has ended owns it) goes
    with the next download; left alone: a running process's (another extraction), another machine's on a
    shared folder (its pids mean nothing here), a link, and names shiftnet does not make."""
    _, archive, info = tiny
    data = tmp_path / "data"
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    ours = staging_folder(data, info.folder).name.removesuffix(f"-{os.getpid()}")  # this machine's prefix
    dead = data / f"{ours}-{int(ended.stdout)}"
    legacy = data / f".{info.folder}.staging-{ended.stdout.strip()}"  # named by an older shiftnet: pid only
    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        kept = [data / f"{ours}-{running.pid}",
                data / f".{info.folder}.staging-another-host-{ended.stdout.strip()}",
                data / f".{info.folder}.staging-99999999999999999999", data / f".{info.folder}.staging-²"]
        for folder in [dead, legacy, *kept]:
            (folder / info.folder).mkdir(parents=True)
            (folder / info.folder / "data_batch_1").write_bytes(b"half an extraction")
        link = data / f".{info.folder}.staging-{int(ended.stdout) + 1}"
        link.symlink_to(kept[0])
        result = runner.invoke(app, ["download", "cifar10", "--to", str(data), "--from", str(archive)])
    finally:
        running.kill()
        running.wait()
    assert result.exit_code == 0, stderr_of(result)
    assert not dead.exists() and not legacy.exists() and all(folder.is_dir() for folder in kept) and link.is_symlink()
    assert ds.ready_splits(data, info) == ["train", "test"]


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


def test_malicious_pickle_in_the_data_is_refused(tiny, tmp_path, monkeypatch):
    files, _, _ = tiny
    sentinel = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {sentinel}",))

    evil = dict(files, test_batch=pickle.dumps(Evil(), protocol=2))
    info = ds.DATASETS["cifar10"]
    digest = __import__("hashlib").md5(evil["test_batch"]).hexdigest()
    monkeypatch.setitem(ds.DATASETS, "cifar10",
                        ds.DatasetInfo(**{**info.__dict__, "test_files": {"test_batch": digest}}))
    prepare_dataset("cifar10", tmp_path / "data", str(make_tar(tmp_path / "evil.tar.gz", evil)))
    with pytest.raises(UsageError, match="refusing unsafe"):
        load_split(tmp_path / "data", "cifar10", train=False)
    assert not sentinel.exists()


def test_missing_dataset_message(tmp_path):
    with pytest.raises(UsageError, match="shiftnet download cifar10"):
        load_split(tmp_path, "cifar10", train=True)
    with pytest.raises(UsageError, match="unknown dataset"):
        load_split(tmp_path, "imagenet", train=True)


@pytest.mark.realdata
def test_real_cifar_archives(real_data):
    """The shared archives, prepared once for the session by ``prepare_dataset`` (conftest.py)."""
    cifar10, cifar100 = real_data.prepared["cifar10"], real_data.prepared["cifar100"]
    assert cifar10["status"] == cifar100["status"] == "verified"
    assert cifar10["splits"] == ["train", "test"] and cifar100["splits"] == ["test"]
    images, labels = load_split(real_data.folder, "cifar10", train=False)
    assert images.shape == (10_000, 3, 32, 32) and labels.bincount().tolist() == [1000] * 10
    assert load_split(real_data.folder, "cifar100", train=False)[1].max() == 99


@pytest.mark.realdata
def test_real_repacked_cifar10_archive_in_the_data_folder_is_accepted(shared_data, tmp_path, monkeypatch):
    """The shared archive holds the official files re-packed (its own md5 is not the official one)."""
    real = shared_data / "cifar-10-python.tar.gz"
    digest = hashlib.md5()
    with open(real, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    assert digest.hexdigest() != ds.CIFAR10.archive_md5
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "cifar-10-python.tar.gz").symlink_to(real)
    monkeypatch.setitem(ds.DATASETS, "cifar10", dataclasses.replace(ds.CIFAR10, urls=("http://127.0.0.1:9/x",)))
    result = runner.invoke(app, ["download", "cifar10", "--to", str(data_dir)])
    assert result.exit_code == 0, stderr_of(result)
    assert (data_dir / "cifar-10-python.tar.gz").resolve() == real.resolve()
    assert ds.ready_splits(data_dir, ds.CIFAR10) == ["train", "test"]
