"""Reading a config file: YAML, safely, with ``extends`` chains merged (``config.py`` checks the result).

A config file is a few dozen lines of YAML written by a person or by ``shiftnet train``. It is read
with PyYAML's safe loader without aliases (which can expand without bound), up to a size no real
config reaches, with numbers like ``1e-3`` read as numbers (YAML 1.2, as every user expects); a file
may ``extends: other.yaml`` (relative to itself), its own values winning. Every failure is one
UsageError naming the file.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from .errors import UsageError, short_repr


def _merge(base: dict, update: dict) -> dict:
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


# A config is a few dozen lines; a bigger file is a mistake (or an attack) and is not parsed.
MAX_CONFIG_BYTES = 1 << 20


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader without aliases: ``*name`` can make a small file expand without bound (the
    "billion laughs"), and a config never needs them."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(None, None, f"alias *{event.anchor[:30]} is not allowed "
                                              f"in a config file (write the value out)", event.start_mark)
        return super().compose_node(parent, index)


# YAML 1.1 (PyYAML) reads `lr: 1e-3` as the string "1e-3"; YAML 1.2 and every user read a number.
_NoAliasLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"), list("-+0123456789"))


def _parse_yaml(path: Path):
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise UsageError(f"config file {path} not found") from None
    except OSError as exc:
        raise UsageError(f"config file {path} cannot be read ({exc.strerror or exc})") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise UsageError(f"config file {path} is larger than {MAX_CONFIG_BYTES >> 20} MiB: not a shiftnet config")
    try:
        return yaml.load(raw.decode("utf-8"), Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader subclass
    except UnicodeDecodeError:
        raise UsageError(f"config file {path} is not UTF-8 text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())[:200]
        raise UsageError(f"config file {path} is not valid YAML{where}: {problem}") from None
    except RecursionError:
        raise UsageError(f"config file {path} is nested too deeply") from None
    except ValueError as exc:  # e.g. an integer too long for Python to convert
        raise UsageError(f"config file {path} holds a value that cannot be read ({str(exc)[:100]})") from None


def read_yaml(path: Path, _seen: tuple = ()) -> dict:
    """A config file as a nested dict, ``extends`` chains merged (child values win)."""
    path = Path(path)
    if path in _seen:
        raise UsageError(f"config {path} extends itself (cycle: {' -> '.join(map(str, _seen + (path,)))})")
    data = _parse_yaml(path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UsageError(f"config file {path} must be a mapping of sections (model, data, optim, run)")
    parent = data.pop("extends", None)
    if parent is not None:
        if not isinstance(parent, str):
            raise UsageError(f"config file {path}: extends must be a file name, got {short_repr(parent)}")
        data = _merge(read_yaml(path.parent / parent, _seen + (path,)), data)
    return data
