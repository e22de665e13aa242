"""Shared fixtures and skip rules: ``cuda`` tests need a GPU, ``realdata`` tests the shared archives."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SHIFTNET_SHARED_DATA", REPO.parent / "shared" / "data"))


def pytest_collection_modifyitems(config, items):
    has_cuda = torch.cuda.is_available()
    has_data = (SHARED_DATA / "cifar-10-python.tar.gz").is_file()
    for item in items:
        if "cuda" in item.keywords and not has_cuda:
            item.add_marker(pytest.mark.skip(reason="needs a CUDA GPU"))
        if "realdata" in item.keywords and not has_data:
            item.add_marker(pytest.mark.skip(reason=f"real CIFAR archives not found in {SHARED_DATA}"))


@pytest.fixture
def shared_data() -> Path:
    return SHARED_DATA


def stderr_of(result) -> str:
    """stderr of a Typer CliRunner result, across click versions that did or did not split it."""
    try:
        return result.stderr
    except (ValueError, AttributeError):
        return result.output
