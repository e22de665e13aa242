"""Builders for small CIFAR-format archives and a local HTTP server with misbehaviours on demand."""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import io
import pickle
import tarfile
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from shiftnet.data import datasets as ds
from shiftnet.data.datasets import CIFAR10, DatasetInfo


def cifar_batch(n: int, seed: int, label_key: bytes = b"labels", classes: int = 10) -> bytes:
    rng = np.random.default_rng(seed)
    record = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
              label_key: [int(v) for v in rng.integers(0, classes, n)], b"batch_label": b"test"}
    return pickle.dumps(record, protocol=2)


def tiny_cifar10_files(n: int = 12) -> dict[str, bytes]:
    files = {name: cifar_batch(n, i) for i, name in enumerate(CIFAR10.train_files)}
    files["test_batch"] = cifar_batch(n, 99)
    files["batches.meta"] = pickle.dumps({b"label_names": [b"c%d" % i for i in range(10)]}, protocol=2)
    return files


def make_tar(path: Path, files: dict[str, bytes], folder: str = "cifar-10-batches-py",
             extra: list | None = None) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for member in extra or []:
            if isinstance(member, tuple):
                info, data = member
                tar.addfile(info, io.BytesIO(data) if data is not None else None)
            else:
                tar.addfile(member)
    return path


def fake_info(files: dict[str, bytes], archive: Path | None, urls=()) -> DatasetInfo:
    """CIFAR10's description with the md5s of our tiny files (the official ones cannot match)."""
    md5 = {name: hashlib.md5(data).hexdigest() for name, data in files.items()}
    return dataclasses.replace(
        CIFAR10,
        train_files={k: md5[k] for k in CIFAR10.train_files},
        test_files={k: md5[k] for k in CIFAR10.test_files},
        meta_files={k: md5[k] for k in CIFAR10.meta_files},
        archive_md5=hashlib.md5(archive.read_bytes()).hexdigest() if archive else CIFAR10.archive_md5,
        urls=tuple(urls),
    )


def make_zip(path: Path, files: dict[str, bytes], symlinks: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16)
            zf.writestr(info, target)
    return path


class Server:
    """Serves files from memory on 127.0.0.1. Per path behaviour: 'ok', 'cut' (first response stops
    halfway), 'norange' (ignores Range), 'hang' (never answers: the request is held until the server
    closes), 'endless' (no Content-Length, the file's bytes repeated until the client hangs up), or 404
    for unknown paths."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.behaviour: dict[str, str] = {}
        self.requests: list[tuple[str, str | None]] = []
        self._cut_done: set[str] = set()
        self._closed = threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                path = self.path
                server.requests.append((path, self.headers.get("Range")))
                if path not in server.files:
                    self.send_error(404)
                    return
                mode = server.behaviour.get(path, "ok")
                if mode == "hang":
                    server._closed.wait(timeout=300)
                    return
                if mode == "endless":
                    self.send_response(200)
                    self.end_headers()
                    try:
                        for _ in range(1 << 20):
                            self.wfile.write(server.files[path])
                    except OSError:
                        pass
                    return
                data = server.files[path]
                start = 0
                range_header = self.headers.get("Range")
                if range_header and mode != "norange":
                    start = int(range_header.split("=")[1].split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if mode == "cut" and path not in server._cut_done:
                    server._cut_done.add(path)
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.connection.shutdown(2)
                    return
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def close(self):
        self._closed.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def make_ready_cifar10(data_dir: Path, train_sizes=(16, 16, 16, 8, 8), n_test: int = 32) -> Path:
    """A tiny CIFAR-10 folder that counts as verified (marker written directly): for fast runs."""
    import json

    from shiftnet.data.datasets import MARKER

    folder = Path(data_dir) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    for i, (name, size) in enumerate(zip(CIFAR10.train_files, train_sizes)):
        (folder / name).write_bytes(cifar_batch(size, i))
    (folder / "test_batch").write_bytes(cifar_batch(n_test, 99))
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": []}, protocol=2))
    sizes = {p.name: p.stat().st_size for p in folder.iterdir() if p.name != MARKER}
    (folder / MARKER).write_text(json.dumps({"splits": ["train", "test"], "sizes": sizes}))
    return Path(data_dir)


def train_tiny_run(tmp_path: Path, monkeypatch, *model_flags: str) -> Path:
    """A real run folder written by ``shiftnet train``: one batch of one epoch on a tiny verified
    CIFAR-10 (ShiftResNet20 a = c unless model flags are given). Returns the folder."""
    from typer.testing import CliRunner

    from shiftnet.cli import app

    monkeypatch.setenv("SHIFTNET_DATA", str(make_ready_cifar10(tmp_path / "data")))
    out = tmp_path / "run"
    flags = model_flags or ("--depth", "20", "--expansion", "1")
    result = CliRunner().invoke(app, ["train", *flags, "--epochs", "1", "--limit-batches", "1", "--batch-size", "8",
                                      "--device", "cpu", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


# Fixtures of the download tests (test_download*.py and test_pretrained.py import them).
@pytest.fixture
def no_retry_wait(monkeypatch):
    """A failed download is retried after 1 s, then 2 s (``shiftnet.data.fetch.download``'s backoff) and
    no public setting shortens that wait: time.sleep returns at once (the test server never sleeps)."""
    monkeypatch.setattr(time, "sleep", lambda seconds: None)


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
