"""``shiftnet report``: the reproduction table from run folders, as Rich or as Markdown (for the README)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich import box
from rich.table import Table
from typing_extensions import Annotated

from .common import cli_errors, console, notice


def report_command(
    paths: Annotated[Optional[List[Path]], typer.Argument(
        help="Run folders, or folders of run folders.", show_default="results")] = None,
    markdown: Annotated[bool, typer.Option(
        "--markdown", help="Print a Markdown table (what the README's reproduction table is).")] = False,
) -> None:
    """Our runs beside the original's published accuracy: final and best epoch, epochs, train time, img/s.

    Reads only config.yaml and metrics.csv of each run folder. "best" is the highest test accuracy of
    any epoch, i.e. selected on the test set as the original reported it; "final" is the last epoch.
    """
    with cli_errors():
        from ..results import HEADERS, markdown_table, read_results, table_cells

        skipped: list[str] = []
        results = read_results(paths or [Path("results")], skipped)
        for note in skipped:  # on stderr: --markdown's table stays clean
            notice(f"note: {note}")
        if markdown:
            print(markdown_table(results), end="")
            return
        table = Table(title="reproduction: our runs beside the original README", title_justify="left",
                      box=box.SIMPLE_HEAVY)
        for header in HEADERS:
            table.add_column(header, overflow="fold")
        for result in results:
            table.add_row(*table_cells(result))
        console.print(table)
