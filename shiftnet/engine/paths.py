"""The checkpoints that ``eval`` PATH arguments name: files as given, run folders as the checkpoint
that stands for them (``loading.run_checkpoint``), other folders as every checkpoint below them,
globs expanded; each file once, however many arguments name it."""

from __future__ import annotations

from pathlib import Path

from ..errors import UsageError
from ..loading import run_checkpoint

CHECKPOINT_SUFFIXES = (".safetensors", ".t7", ".pt", ".pth")
MAGIC = "*?["


def _expand(pattern: str) -> list[Path]:
    """A path that exists is itself, even with ``[`` in its name; otherwise a glob, reverse-sorted as
    the seed's eval.py did. ``**`` does not descend into symlinked folders (pathlib's rule), so a
    link cycle cannot make the walk endless."""
    path = Path(pattern)
    if path.exists() or not any(ch in pattern for ch in MAGIC):
        return [path]
    parts = path.parts
    first = next(i for i, part in enumerate(parts) if any(ch in part for ch in MAGIC))
    root = Path(*parts[:first]) if first else Path(".")
    return sorted(root.glob(str(Path(*parts[first:]))), key=str, reverse=True)


def resolve_paths(patterns: list[str]) -> list[Path]:
    """Files as given; run folders as their final.safetensors (else best, else last.pt); globs expanded.
    Each file is scored once, however many patterns name it."""
    paths: list[Path] = []
    for pattern in patterns:
        matches = _expand(pattern)
        if not matches:
            raise UsageError(f"{pattern}: no file matches")
        for path in matches:
            if path.is_dir():
                stands_for = run_checkpoint(path)
                if stands_for is not None:
                    paths.append(stands_for)
                else:
                    found = sorted(p for p in path.rglob("*") if p.suffix in CHECKPOINT_SUFFIXES and p.is_file())
                    if not found:
                        raise UsageError(f"{path}: no checkpoint in this folder")
                    paths.extend(found)
            elif path.is_file():
                paths.append(path)
            else:
                raise UsageError(f"{path} not found")
    seen: set[Path] = set()
    unique = []
    for path in paths:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(path)
    return unique
