"""The YAML presets shipped inside the package: the seed recipes and one preset per seed-table row.

They live in the package (not in a folder beside it) so that a plain ``pip install .`` still has
them; they are found with importlib.resources, never through the repository's layout.
``scripts/make_presets.py`` writes the per-row files; tests/test_presets.py keeps them in step.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def presets_dir() -> Path:
    """The folder holding the presets. A preset may ``extends:`` a sibling file, so it is read from a
    real folder; pip installs packages as plain files, which is what importlib.resources returns."""
    root = files(__name__)
    if not isinstance(root, Path):  # a zipped install: the relative ``extends`` could not be followed
        raise RuntimeError(f"shiftnet's presets are not plain files ({root!r}); install shiftnet unzipped")
    return root


def find_preset(name: str) -> Path | None:
    """The preset file called ``name`` (``seed-faithful``, ``cifar10-shiftresnet20-a3c``), or None."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        return None
    root = presets_dir()
    for candidate in (root / f"{name}.yaml", *(folder / f"{name}.yaml" for folder in _folders(root))):
        if candidate.is_file():
            return candidate
    return None


def preset_names() -> list[str]:
    """Every preset's name, in the order ``find_preset`` looks (recipes first)."""
    root = presets_dir()
    names = [p.stem for p in sorted(root.glob("*.yaml"))]
    for folder in _folders(root):
        names += [p.stem for p in sorted(folder.glob("*.yaml"))]
    return names


def _folders(root: Path) -> list[Path]:
    """The per-data-set folders (cifar10/, cifar100/), not Python's own (__pycache__)."""
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))
