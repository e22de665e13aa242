"""``--set section.key=value``: any config key from the command line, typed by its dataclass field.

Every key of a config file can be given this way, those without a flag of their own included
(``optim.reset_momentum_each_epoch``, ``run.bn_weight_init``, ``data.eval_batch_size``, ...). The
value is read as the field's declared type in ``config.py`` (``int``, ``float``, ``bool``, ``str``,
``list[int]`` as ``82,123``, and ``none`` for an optional one), so ``--set optim.nesterov=yes`` is a
boolean and ``--set run.limit_batches=none`` is unset; an unknown section or key, or a value that is
not of the type, is one line naming the valid keys or the type. Ranges and choices are then checked
with the rest of the config (``config.validate``), so a flag, a file and ``--set`` get one message.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from ..config import section_keys, sections
from ..errors import UsageError, short_repr

TRUE_WORDS = ("true", "yes", "on", "1")
FALSE_WORDS = ("false", "no", "off", "0")
NONE_WORDS = ("none", "null", "")
_TYPE_WORDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def type_words(kind) -> str:
    """How a field's type is named in a message: ``an integer``, ``a list of integers (82,123)``..."""
    args = typing.get_args(kind)
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        inner = [arg for arg in args if arg is not type(None)]
        return f"{type_words(inner[0])} or none"
    if typing.get_origin(kind) is list:
        return f"a comma-separated list of {type_words(args[0]).split(' ', 1)[1]}s (e.g. 82,123)"
    return _TYPE_WORDS.get(kind, getattr(kind, "__name__", str(kind)))


def parse_value(text: str, kind) -> Any:
    """``text`` read as a value of ``kind``; ValueError if it is not one."""
    word = text.strip().lower()
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        if word in NONE_WORDS:
            return None
        kind = next(arg for arg in typing.get_args(kind) if arg is not type(None))
    if typing.get_origin(kind) is list:
        items = text.strip().strip("[]").strip()
        return [parse_value(item, typing.get_args(kind)[0]) for item in items.split(",")] if items else []
    if kind is bool:
        if word not in TRUE_WORDS + FALSE_WORDS:
            raise ValueError(text)
        return word in TRUE_WORDS
    if kind is int:
        return int(text.strip())
    if kind is float:
        return float(text.strip())
    return text


def parse_assignment(text: str) -> tuple[str, Any]:
    """``section.key=value`` -> ("section.key", the typed value); one-line UsageError otherwise."""
    dotted, sep, raw = text.partition("=")
    dotted = dotted.strip()
    section, _, key = dotted.partition(".")
    shown = dotted if len(dotted) <= 60 else dotted[:57] + "..."
    if not sep or not key:
        raise UsageError(f"--set {short_repr(text)}: write section.key=value, e.g. --set optim.nesterov=true")
    if section not in sections():
        raise UsageError(f"--set {shown}: unknown section {short_repr(section)}; sections: {', '.join(sections())}")
    kinds = typing.get_type_hints(sections()[section])
    if key not in section_keys(section):
        raise UsageError(f"--set {shown}: unknown key; valid {section} keys: {', '.join(section_keys(section))}")
    try:
        return dotted, parse_value(raw, kinds[key])
    except ValueError:
        raise UsageError(f"--set {dotted}: expected {type_words(kinds[key])}, got {short_repr(raw)}") from None


def parse_assignments(texts: list[str] | None) -> dict[str, Any]:
    """Every ``--set``, in order; a key given twice is refused (which one was meant?)."""
    values: dict[str, Any] = {}
    for text in texts or []:
        key, value = parse_assignment(text)
        if key in values:
            raise UsageError(f"--set {key} is given twice; give it once")
        values[key] = value
    return values
