"""The ``shiftnet`` command: a Typer app with one small module per subcommand.

Importing it, and so ``shiftnet --help``, ``--version`` and every command's ``--help``, does not
import torch (issue 13; tests/test_cli_help.py checks each with ``python -X importtime``): the
command modules import torch, the models and the engine inside their command bodies, and help
reads its choices and defaults from torch-free modules (``enums.py``, their one home, and ``config.py``).
"""

from __future__ import annotations

try:  # Ctrl-C while these load: exit as any Ctrl-C does, one line, no traceback
    import typer
    from typing_extensions import Annotated

    from .bench import bench_app
    from .common import OneLineErrors, interrupted, set_debug
    from .download import download_app
    from .eval import convert_command, eval_command
    from .export import export_command
    from .params import params
    from .plot import plot_app
    from .report import report_command
    from .train import train
except KeyboardInterrupt:
    import sys

    print("error: interrupted (Ctrl-C)", file=sys.stderr)
    raise SystemExit(130) from None

app = typer.Typer(
    name="shiftnet",
    cls=OneLineErrors,
    help="Train, evaluate and measure ShiftResNets (Wu et al., CVPR 2018) on modern PyTorch, CPU or GPU.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from .. import __version__

        print(f"shiftnet {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option(
        "--debug", help="Show full tracebacks on errors (also SHIFTNET_DEBUG=1).")] = False,
    version: Annotated[bool, typer.Option(
        "--version", help="Print the version and exit.", callback=_print_version, is_eager=True)] = False,
) -> None:
    set_debug(debug)


app.command("params")(params)
app.command("train")(train)
app.command("eval")(eval_command)
app.command("convert")(convert_command)
app.command("report")(report_command)
app.command("export")(export_command)
app.add_typer(bench_app, name="bench")
app.add_typer(download_app, name="download")
app.add_typer(plot_app, name="plot")


def main() -> None:
    with interrupted():
        app()
