"""Archive limits: member count and unpacked size are refused from the headers, before the disk is
touched, for CIFAR tars and checkpoint zips; a gzip bomb or a giant pax header is read no further
than the limit."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from shiftnet.data import archives
from shiftnet.data.archives import CHECKPOINT_LIMITS, CIFAR_LIMITS, Limits, extract
from shiftnet.errors import UsageError


def _tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _file(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def test_too_many_members_is_refused_before_writing(tmp_path):
    archive = _tar(tmp_path / "many.tar.gz", [_file(f"d/{i}", b"") for i in range(CIFAR_LIMITS.max_members + 1)])
    with pytest.raises(UsageError, match=f"more than {CIFAR_LIMITS.max_members} members"):
        extract(archive, tmp_path / "out", CIFAR_LIMITS)
    assert list((tmp_path / "out").iterdir()) == []
    with zipfile.ZipFile(tmp_path / "many.zip", "w") as zf:
        for i in range(CHECKPOINT_LIMITS.max_members + 1):
            zf.writestr(f"{i}.t7", b"")
    with pytest.raises(UsageError, match=f"more than {CHECKPOINT_LIMITS.max_members} members"):
        extract(tmp_path / "many.zip", tmp_path / "out-zip", CHECKPOINT_LIMITS)
    assert list((tmp_path / "out-zip").iterdir()) == []


def test_a_header_claiming_a_huge_member_is_refused_from_the_header(tmp_path):
    """A 1 TiB member header in a tiny file: refused at the real limit without reading on."""
    info = tarfile.TarInfo("cifar-10-batches-py/data_batch_1")
    info.size = 1 << 40
    raw = io.BytesIO()
    raw.write(info.tobuf(format=tarfile.GNU_FORMAT))
    raw.write(b"\0" * 4096)  # a little of the promised data; then the file ends
    archive = tmp_path / "huge.tar"
    archive.write_bytes(raw.getvalue())
    with pytest.raises(UsageError, match="unpacks to more than 512.0 MiB, far more than a CIFAR archive holds"):
        extract(archive, tmp_path / "out", CIFAR_LIMITS)
    assert list((tmp_path / "out").iterdir()) == []


def test_size_limit_counts_every_member_and_a_gzip_bomb_stops_at_the_limit(tmp_path):
    small = Limits(max_bytes=100_000, max_members=50, what="a test archive")
    parts = [_file(f"d/{i}", b"x" * 30_000) for i in range(4)]  # 120,000 bytes in all
    archive = _tar(tmp_path / "sum.tar.gz", parts)
    with pytest.raises(UsageError, match="unpacks to more than"):
        extract(archive, tmp_path / "out", small)
    assert list((tmp_path / "out").iterdir()) == []
    # a pax header of 20 MB of zeros (compresses to ~20 KB): the bounded reader stops tarfile
    pax = tarfile.TarInfo("d/f")
    pax.pax_headers = {"comment": "0" * (20 << 20)}
    bomb = tmp_path / "pax.tar.gz"
    with tarfile.open(bomb, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(pax)
    assert bomb.stat().st_size < 1 << 20
    with pytest.raises(UsageError, match="unpacks to more than"):
        extract(bomb, tmp_path / "out2", Limits(max_bytes=1 << 20, max_members=2, what="a test archive"))
    # zip: declared sizes add up the same way
    with zipfile.ZipFile(tmp_path / "sum.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(4):
            zf.writestr(f"{i}.t7", b"\0" * 30_000)
    with pytest.raises(UsageError, match="unpacks to more than"):
        extract(tmp_path / "sum.zip", tmp_path / "out3", small)
    assert list((tmp_path / "out3").iterdir()) == []


def test_within_the_limits_everything_is_written(tmp_path):
    archive = _tar(tmp_path / "ok.tar.bz2", [_file("d/a", b"a" * 10), _file("d/b", b"b" * 20)], mode="w:bz2")
    assert extract(archive, tmp_path / "out", Limits(30, 3, "a test archive")) == ["d/a", "d/b"]
    assert (tmp_path / "out" / "d" / "b").read_bytes() == b"b" * 20
    assert archives.CIFAR_LIMITS.max_bytes > 180 << 20  # the real CIFAR archives unpack to ~180 MB


def test_checkpoint_download_uses_the_checkpoint_limits(tmp_path):
    """An archive with one member more than the real CHECKPOINT_LIMITS allow is refused as a checkpoint
    archive (the limits' own words), before anything is unpacked."""
    from typer.testing import CliRunner

    from shiftnet.cli import app

    from .conftest import stderr_of

    with zipfile.ZipFile(tmp_path / "big.zip", "w") as zf:
        for index in range(CHECKPOINT_LIMITS.max_members + 1):
            zf.writestr(f"{index}.t7", b"")
    result = CliRunner().invoke(app, ["download", "checkpoints", "cifar10-resnet-small", "--to", str(tmp_path / "ck"),
                                      "--from", str(tmp_path / "big.zip")])
    message = f"more than {CHECKPOINT_LIMITS.max_members} members, far more than a checkpoint archive holds"
    assert result.exit_code == 2 and message in stderr_of(result), stderr_of(result)
    assert not (tmp_path / "ck" / "cifar10-resnet-small").exists()
    assert (tmp_path / "big.zip").exists()  # --from is the user's file: kept
