"""Shared fixtures and skip rules: ``cuda`` tests need a GPU, ``realdata`` tests the shared archives.

The real data sets are prepared once per session (``real_data``: unpacking and verifying the 170 MB
CIFAR-10 archive is the costliest step of most real-data tests), and so are one short real training
run with its evaluation on the whole test set (``real_run``) and the original-format .t7 files with
torch's reading of them (``legacy_suite``). Tests read them and write elsewhere.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

# torch.compile's compile workers are processes that each import torch: on the 2 shared cores the suite
# runs on they cost more CPU than they save, and no test is about compiling in parallel (read by
# torch._inductor.config when first imported, so before torch is)
os.environ.setdefault("TORCHINDUCTOR_COMPILE_THREADS", "1")
# one OpenMP thread per process (this one and the subprocesses tests start), unless the caller set it: the
# suite's tensors are small, so a second thread mostly spins, and it costs a quarter more CPU here
os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SHIFTNET_SHARED_DATA", REPO.parent / "shared" / "data"))
ARCHIVES = {"cifar10": "cifar-10-python.tar.gz", "cifar100": "cifar-100-python-test-only.tar.gz"}
HAS_REAL_DATA = (SHARED_DATA / ARCHIVES["cifar10"]).is_file()


def pytest_collection_modifyitems(config, items):
    has_cuda = torch.cuda.is_available()
    for item in items:
        if "cuda" in item.keywords and not has_cuda:
            item.add_marker(pytest.mark.skip(reason="needs a CUDA GPU"))
        if "realdata" in item.keywords and not HAS_REAL_DATA:
            item.add_marker(pytest.mark.skip(reason=f"real CIFAR archives not found in {SHARED_DATA}"))


@pytest.fixture
def shared_data() -> Path:
    return SHARED_DATA


@dataclass(frozen=True)
class RealData:
    """A data folder holding the verified real CIFAR-10 and the CIFAR-100 test set; ``prepared`` is
    what ``prepare_dataset`` returned for each, from the shared archives."""

    folder: Path
    prepared: dict


@pytest.fixture(scope="session")
def real_data(tmp_path_factory) -> RealData:
    from shiftnet.data.prepare import prepare_dataset

    if not HAS_REAL_DATA:
        pytest.skip(f"real CIFAR archives not found in {SHARED_DATA}")
    folder = tmp_path_factory.mktemp("real") / "data"
    prepared = {name: prepare_dataset(name, folder, str(SHARED_DATA / archive)) for name, archive in ARCHIVES.items()}
    return RealData(folder, prepared)


@dataclass(frozen=True)
class RealRun:
    """``shiftnet train`` of ShiftResNet20 a = c for 30 SGD steps on the real training set (far above
    chance), and ``shiftnet eval --json --predictions`` of its folder on the whole real test set."""

    data: Path
    out: Path
    row: dict


@pytest.fixture(scope="session")
def real_run(real_data, tmp_path_factory) -> RealRun:
    from typer.testing import CliRunner

    from shiftnet.cli import app

    root = tmp_path_factory.mktemp("real-run")
    config = root / "short-evaluation.yaml"  # the epoch's own test: 600 images (eval below scores all 10,000)
    config.write_text("data:\n  eval_batch_size: 20\n")
    out = root / "run"
    runner = CliRunner()
    result = runner.invoke(app, ["train", "--config", str(config), "--depth", "20", "--expansion", "1", "--epochs", "1",
                                 "--limit-batches", "30", "--device", "cpu", "--data-dir", str(real_data.folder),
                                 "--out", str(out)])
    assert result.exit_code == 0, stderr_of(result)
    result = runner.invoke(app, ["eval", str(out), "--data-dir", str(real_data.folder), "--json", "--predictions"])
    assert result.exit_code == 0, stderr_of(result)
    return RealRun(real_data.folder, out, json.loads(result.stdout))


@pytest.fixture(scope="session")
def legacy_suite(tmp_path_factory, request) -> dict:
    """Every original-format .t7 file the suite reads, as torch writes them, and torch's own reading of
    them (``legacy_writer.make_suite``; on the first 100 real test images when the archives are here)."""
    from .legacy_writer import make_suite

    cifar = request.getfixturevalue("real_data").folder if HAS_REAL_DATA else None
    return make_suite(tmp_path_factory.mktemp("legacy"), cifar, count=100)


def stderr_of(result) -> str:
    """stderr of a Typer CliRunner result, across click versions that did or did not split it."""
    try:
        return result.stderr
    except (ValueError, AttributeError):
        return result.output


@pytest.fixture(autouse=True)
def default_sigint():
    """Each test starts with Python's own SIGINT handler: a library used in-process by an earlier test (seen in
    the full suite, not alone) can leave SIGINT ignored, which a child process inherits, and then the Ctrl-C
    tests' signals are lost."""
    import signal

    before = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)
