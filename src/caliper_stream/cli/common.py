"""What every command group shares: the ``--db`` option, the consoles and the error exit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

DbOpt = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (default: $CALIPER_STREAM_DB, else sqlite:///caliper-stream.db)."),
]

#: Human output on stdout; tables are not cut to the width of a pipe.
out_console = Console()
#: Messages on stderr; long paths and URLs are never wrapped mid-word.
err_console = Console(stderr=True, soft_wrap=True)


def fail(message: str, status: int = 1) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``status`` (never a traceback)."""
    err_console.print(f"error: {message}", highlight=False, markup=False)
    raise typer.Exit(status)


def print_table(rows: list[dict[str, Any]], fields: Sequence[str], title: str | None = None) -> None:
    """Print ``rows`` as a table of the ``fields`` that have a value in at least one row.

    In a terminal rich fits the table to the window; piped output (80 columns by default for
    rich) gets the table's natural width, so files and pagers receive every character.
    """
    shown = [f for f in fields if any(r.get(f) is not None for r in rows)]
    cells = [["" if r.get(f) is None else str(r[f]) for f in shown] for r in rows]
    table = Table(*shown, title=title, header_style="bold")
    for row in cells:
        table.add_row(*row)
    if out_console.is_terminal:
        out_console.print(table)
        return
    width = sum(max([len(f), *(len(row[i]) for row in cells)]) + 3 for i, f in enumerate(shown)) + 1
    Console(width=max(80, width)).print(table)
