"""Exceptions that the command line turns into one line and an exit status (DESIGN.md).

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
