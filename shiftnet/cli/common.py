"""What every subcommand shares: the Rich consoles, debug switch and error-to-exit-code mapping.

Each command body runs inside ``cli_errors()``: a ``ValueError``/``UsageError`` becomes one line on
stderr and exit 2, any other exception one line and exit 1; ``--debug`` or ``SHIFTNET_DEBUG=1``
re-raises so the traceback shows. Ctrl-C exits 130 with one line. Errors found while parsing the
command line itself (an unknown flag, a value of the wrong type) get the same one line and exit 2
from ``OneLineErrors``, the root group, instead of Typer's usage box. A reader that stops reading
(``shiftnet params | head``) ends the command quietly with exit 1, as Click and Rich do.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys

import typer
from rich.console import Console
from rich.progress import Progress
from typer.core import TyperGroup

try:  # recent Typer vendors Click as typer._click; older ones use the click package
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover - depends on the installed Typer
    from click import exceptions as click_exceptions

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
    except BrokenPipeError:
        raise stdout_closed() from None
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


def stdout_closed() -> typer.Exit:
    """The Exit for a closed stdout: nothing more is written to it (Python would report the failed
    flush at exit as a second error), and nothing is said, since the reader left on purpose."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):  # no file descriptor (a test's captured stdout)
        pass
    return typer.Exit(1)


@contextlib.contextmanager
def interrupted():
    """Around the whole command line: Ctrl-C or a closed stdout between the places that handle them
    (Typer builds the command tree outside every command) still end in one line or quietly."""
    try:
        yield
    except KeyboardInterrupt:
        print("error: interrupted (Ctrl-C)", file=sys.stderr)
        raise SystemExit(130) from None
    except BrokenPipeError:
        raise SystemExit(stdout_closed().exit_code) from None


class OneLineErrors(TyperGroup):
    """The root command group: a command-line parsing error is one line on stderr, exit 2.

    Typer draws a usage panel over several lines; scripts and the error contract want one line
    that names the problem and where the help is. Help (``--help``, or a group run without a
    command) is printed as before.
    """

    def make_context(self, *args, **kwargs):
        try:  # Typer turns Ctrl-C while the command line is parsed into a silent exit 130
            return super().make_context(*args, **kwargs)
        except KeyboardInterrupt:
            print("error: interrupted (Ctrl-C)", file=sys.stderr)
            raise typer.Exit(130) from None

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click_exceptions.ClickException as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # the help is already printed
                sys.exit(exc.exit_code)
            where = f"; see `{exc.ctx.command_path} --help`" if getattr(exc, "ctx", None) is not None else ""
            message = " ".join(exc.format_message().split())[:300].rstrip(".")
            print(f"error: {message}{where}", file=sys.stderr)
            sys.exit(exc.exit_code)
        except typer.Abort as exc:  # click's Abort where Typer uses the click package, Typer's own where it vendors it
            if isinstance(exc.__cause__ or exc.__context__, KeyboardInterrupt):  # Ctrl-C while parsing
                print("error: interrupted (Ctrl-C)", file=sys.stderr)
                sys.exit(130)
            print("error: aborted", file=sys.stderr)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


def progress_display(*columns, console: Console, **options) -> Progress:
    """A Rich progress bar that is drawn on a terminal only: elsewhere (a log, a pipe) it would
    write nothing useful but an empty line when it stops."""
    return Progress(*columns, console=console, disable=not console.is_terminal, **options)


def notice(text: str) -> None:
    """One informational line on stderr (e.g. "trying mirror ..."), kept off stdout's results."""
    print(text, file=sys.stderr, flush=True)


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def strict_json(value, **options) -> str:
    """JSON that any parser reads: NaN and infinities (not JSON) become null."""
    return json.dumps(_finite(value), allow_nan=False, **options)
