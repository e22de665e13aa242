"""A plain (not editable) ``pip install .`` ships every data file the package reads at run time.

setuptools copies only the ``*.py`` files of a package unless ``[tool.setuptools.package-data]`` names the
others; a file that moves between packages (the pretrained registry did) silently drops out of a wheel.
Every non-Python file under ``shiftnet/`` must match a package-data pattern of its own package.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_every_data_file_in_the_package_is_declared_package_data():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    package_root = REPO / "shiftnet"
    missing = []
    for path in package_root.rglob("*"):
        if path.is_dir() or path.suffix in (".py", ".pyc") or "__pycache__" in path.parts:
            continue
        relative = path.relative_to(REPO)
        owners = [p for p in relative.parents if (REPO / p / "__init__.py").is_file()]
        package = owners[0] if owners else None
        patterns = declared.get(".".join(package.parts), []) if package else []
        inside = path.relative_to(REPO / package).as_posix() if package else relative.as_posix()
        if not any(fnmatch.fnmatch(inside, pattern) for pattern in patterns):
            missing.append(str(relative))
    assert missing == [], f"not in [tool.setuptools.package-data]: {missing}"
