"""What every command group shares: the ``--db`` option, the consoles and the error exit."""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from caliper_stream.store.base import Store

DbOpt = Annotated[
    str | None,
    typer.Option("--db", metavar="URL", help="Database URL (default: $CALIPER_STREAM_DB, else sqlite:///caliper-stream.db)."),
]

#: Human output on stdout; tables are not cut to the width of a pipe.
out_console = Console()
#: Messages on stderr; long paths and URLs are never wrapped mid-word.
err_console = Console(stderr=True, soft_wrap=True)


#: The largest id or count a command takes: SQL's integers have 64 bits, and a larger number
#: would fail in the database instead of as a bad argument.
SQL_INT_MAX = 2**63 - 1


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


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?$")


def parse_time(value: str | None, option: str = "--since") -> str | None:
    """A ``--since``/``--until`` value as the text stored event times compare with, or exit 2.

    A date (``2026-01-13``) stays a date: it sorts before every time of that day, so ``--since``
    includes the day and ``--until`` excludes it. A date-time (``2026-01-13T08:00``, with
    seconds, a fraction, ``Z`` or an offset; no zone means UTC) becomes Caliper's UTC form
    ``2026-01-13T08:00:00.000Z``. Anything else (``2026-1-13``, ``13/01/2026``) is refused:
    compared as text it would silently select the wrong events."""
    if value is None:
        return None
    text = value.strip()
    try:
        if _DATE.match(text):
            return datetime.date.fromisoformat(text).isoformat()
        if _TIME.match(text):
            parsed = datetime.datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T", 1))
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=datetime.UTC)
            utc = parsed.astimezone(datetime.UTC)
            return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
    except ValueError:
        pass
    fail(f"{option} must be a date (YYYY-MM-DD) or a date and time (YYYY-MM-DDTHH:MM[:SS][Z|±HH:MM]), got {value!r}", 2)


def since_option(value: str | None) -> str | None:
    """Typer callback for ``--since``."""
    return parse_time(value, "--since")


def until_option(value: str | None) -> str | None:
    """Typer callback for ``--until``."""
    return parse_time(value, "--until")


SinceOpt = Annotated[
    str | None,
    typer.Option(metavar="DATE|TIME", callback=since_option, help="eventTime from (inclusive): 2026-01-05 or 2026-01-05T08:00Z."),
]
UntilOpt = Annotated[
    str | None,
    typer.Option(metavar="DATE|TIME", callback=until_option, help="eventTime before (exclusive): a date ends with the day before."),
]


def readable_help(command: Any) -> Any:
    """Give every parameter of `command` (a click/Typer command or group, and its subcommands) a
    placeholder people read, and return it.

    Left alone, the help shows Python type names (``--sample <bool>``, ``paths... <list[str]>``).
    Here flags take no placeholder, arguments show their name (``{PATH}...``), and options without
    an explicit ``metavar`` show their choices, ``N`` for integers, ``NUMBER`` for decimals,
    ``PATH`` for paths, else their own name (``--timezone TIMEZONE``)."""
    for sub in getattr(command, "commands", {}).values():
        readable_help(sub)
    make_help_option = command.get_help_option

    def help_option(ctx: Any) -> Any:
        option = make_help_option(ctx)
        if option is not None:
            option.metavar = ""  # --help is a flag like any other
        return option

    command.get_help_option = help_option
    for param in command.params:
        if param.param_type_name == "argument":
            name = (param.metavar or param.name or "value").upper().removesuffix("...")
            param.metavar = name  # the usage line adds "..." when it takes several
            param.display_type_rich = _no_type  # the name column says it all
        elif param.metavar is None:
            param.metavar = _placeholder(param)
    return command


def _no_type(ctx: Any) -> None:
    return None


def _placeholder(param: Any) -> str:
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return ""
    desc = getattr(param, "type_descriptor", None)
    if desc is not None:  # Typer's own parameters
        if desc.is_choice and desc.choices:
            return "|".join(str(getattr(c, "value", c)) for c in desc.choices)
        kind = {int: "integer", float: "float"}.get(desc.annotation, "path" if desc.is_path else "")
    else:  # plain click parameters
        kind = getattr(param.type, "name", "")
        if kind == "choice":
            return "|".join(str(c) for c in param.type.choices)
    placeholder = {"integer": "N", "float": "NUMBER", "path": "PATH"}.get(kind)
    return placeholder or (param.name or "value").upper()


@contextmanager
def opened_store(db: str | None, *, migrate: bool = True) -> Iterator[Store]:
    """Open the store of ``--db`` (or the default); turn expected failures into a message and
    exit status 2, and close it whatever happens."""
    from caliper_stream.errors import CaliperStreamError
    from caliper_stream.store import default_db_url, open_store

    store: Store | None = None
    try:
        store = open_store(default_db_url(db), migrate=migrate)
        yield store
    except CaliperStreamError as exc:
        fail(str(exc), 2)
    finally:
        if store is not None:
            store.close()
