"""What every subcommand shares: the Rich consoles, debug switch and error-to-exit-code mapping.

Each command body runs inside ``cli_errors()``: a ``ValueError``/``UsageError`` becomes one line on
stderr and exit 2, any other exception one line and exit 1; ``--debug`` or ``SHIFTNET_DEBUG=1``
re-raises so the traceback shows. Ctrl-C exits 130 with one line.
"""

from __future__ import annotations

import contextlib
import os
import sys

import typer
from rich.console import Console

from ..errors import ShiftnetError

# Piped output (CI logs, `> file`) is not squeezed into 80 columns: tables stay readable.
_PIPE_WIDTH = None if sys.stdout.isatty() else int(os.environ.get("COLUMNS", "120"))
console = Console(width=_PIPE_WIDTH)
err_console = Console(stderr=True)
_state = {"debug": False}


def set_debug(flag: bool) -> None:
    _state["debug"] = flag


def debug_enabled() -> bool:
    return _state["debug"] or os.environ.get("SHIFTNET_DEBUG", "") not in ("", "0")


def fail(message: str, code: int) -> typer.Exit:
    """Print ``error: message`` as one plain line on stderr and return the Exit to raise."""
    print(f"error: {message}", file=sys.stderr)
    return typer.Exit(code)


@contextlib.contextmanager
def cli_errors():
    try:
        yield
    except (typer.Exit, typer.Abort):
        raise
    except KeyboardInterrupt:
        if debug_enabled():
            raise
        raise fail("interrupted (Ctrl-C)", 130) from None
    except Exception as exc:  # noqa: BLE001 - this is the one place that maps every error to an exit code
        if debug_enabled():
            raise
        if isinstance(exc, ShiftnetError):
            code = exc.exit_code
        elif isinstance(exc, ValueError):
            code = 2
        else:
            code = 1
        message = str(exc) or type(exc).__name__
        if code == 1 and not isinstance(exc, ShiftnetError):
            message = f"{type(exc).__name__}: {message} (rerun with --debug for the traceback)"
        raise fail(message.splitlines()[0] if code == 2 else " ".join(message.split()), code) from None
