"""Exceptions that the command line turns into one line and an exit status (README.md, Commands).

``UsageError`` (and ``ValueError`` from validation) means the user asked for something invalid:
exit 2. ``RunError`` is a failure at run time that the user can act on: exit 1. Both messages are
written to be read alone: what is wrong, then what to do.
"""


class ShiftnetError(Exception):
    """Base class; ``exit_code`` is what the CLI exits with."""

    exit_code = 1


class UsageError(ShiftnetError, ValueError):
    """Bad input: a flag, a file, a checksum. Exit 2."""

    exit_code = 2


class RunError(ShiftnetError):
    """A failure while running (disk full, NaN loss, interrupted download). Exit 1."""

    exit_code = 1


class Interrupted(ShiftnetError):
    """Ctrl-C, after whatever had to be saved was saved. Exit 130, as shells report SIGINT."""

    exit_code = 130


def short_repr(value, limit: int = 60) -> str:
    """``repr(value)`` for a message, never longer than ``limit``: a config value can be a huge
    string, a deeply nested list or an integer of thousands of digits (whose repr() Python refuses)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"an integer of about {int(value.bit_length() * 0.30103) + 1} digits"
    import reprlib

    shortener = reprlib.Repr()
    shortener.maxstring = shortener.maxother = limit
    shortener.maxlevel, shortener.maxlist, shortener.maxdict = 2, 4, 4
    text = shortener.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
