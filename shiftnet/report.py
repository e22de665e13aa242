"""The params table: our exact counts (``models.model_stats`` rows) beside the seed README's figures.

The published figures themselves live in ``shiftnet/published.py``; this module only renders. Each
row shows the model's name as ``ModelSpec.name`` prints it, which says its width knob too
(``_e3``, ``_r12_block_legacy``) and can be typed back wherever a model is asked for.
"""

from __future__ import annotations

from rich import box
from rich.table import Table

from .published import SeedTableEntry, matches_readme

__all__ = ["params_table"]


def params_table(rows: list[dict], entries: list[SeedTableEntry] | None = None, title: str = "") -> Table:
    """Rich table of ``model_stats`` rows; with ``entries`` (one per row), the README's figures and a match
    mark, and a section per depth."""
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAVY, pad_edge=False, collapse_padding=True)
    table.add_column("model", overflow="fold")
    for name in ("params", "M", "red.", "MACs") + (("seed M", "seed red.") if entries is not None else ()):
        table.add_column(name, justify="right", no_wrap=True)
    for index, row in enumerate(rows):
        cells = [row["name"], f"{row['params']:,}", f"{row['params_m']:.2f}",
                 f"{row['reduction_factor']:.2f}", f"{row['macs'] / 1e6:.2f}M"]
        last_of_depth = False
        if entries is not None:
            entry = entries[index]
            if entry.readme_params_m is None:
                cells.append("–")
            else:
                cells.append(_mark(entry.readme_params_m, matches_readme(row["params"] / 1e6, entry.readme_params_m)))
            cells.append(_mark(entry.readme_reduction, matches_readme(row["reduction_factor"], entry.readme_reduction)))
            last_of_depth = index + 1 < len(entries) and entries[index + 1].spec.depth != entry.spec.depth
        table.add_row(*cells, end_section=last_of_depth)
    return table


def _mark(printed: str, ok: bool) -> str:
    return f"{printed} [green]✓[/]" if ok else f"{printed} [red]✗[/]"
