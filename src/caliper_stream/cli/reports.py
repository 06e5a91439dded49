"""``report NAME``: every analytics question of `caliper_stream.analyse.REPORTS` on the command line.

Options map onto the report function's keyword filters (read from its signature), so a new
report needs no CLI code; an option the chosen report does not take is refused, not ignored.
"""

from __future__ import annotations

import csv
import inspect
import sys
from collections.abc import Iterable
from typing import Annotated, Any

import msgspec
import typer

from caliper_stream.analyse import REPORTS
from caliper_stream.cli.common import SQL_INT_MAX, DbOpt, err_console, fail, print_table
from caliper_stream.errors import CaliperStreamError

#: say why a report takes a while when this many events wait to be folded into the summaries
_ANNOUNCE = 100_000


def _print(rows: list[dict[str, Any]], fmt: str, title: str) -> None:
    if fmt == "jsonl":
        for row in rows:
            sys.stdout.write(msgspec.json.encode(row).decode() + "\n")
        return
    if not rows:
        err_console.print(f"{title}: no rows", highlight=False, markup=False)
        return
    columns = list(dict.fromkeys(c for row in rows for c in row))  # rows may differ (grade matrix)
    if fmt == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return
    print_table(rows, columns, title)


def report_command(
    name: Annotated[str, typer.Argument(metavar="NAME", help=f"One of: {', '.join(REPORTS)}.")],
    db: DbOpt = None,
    course: Annotated[
        str | None,
        typer.Option(help="Only this course (courseNumber); '(no course)' for events without one."),
    ] = None,
    user: Annotated[
        str | None, typer.Option(help="Only this user (uuid, pk1 or batch_uid).")
    ] = None,
    test: Annotated[
        str | None, typer.Option(help="Only this test (assessment pk, e.g. _12_1).")
    ] = None,
    question: Annotated[
        str | None, typer.Option(help="items: only this question (question pk).")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            metavar="TIME",
            help="From this time or date on (ISO 8601; site time zone unless an offset is given).",
        ),
    ] = None,
    until: Annotated[
        str | None, typer.Option(metavar="TIME", help="Before this time or date.")
    ] = None,
    by: Annotated[
        str | None, typer.Option(help="activity: course, day, hour (of the week) or user.")
    ] = None,
    order: Annotated[str | None, typer.Option(help="items: hardest or slowest first.")] = None,
    limit: Annotated[
        int | None, typer.Option(metavar="N", min=1, max=SQL_INT_MAX, help="items: first N rows; content: N per course.")
    ] = None,
    threshold_hours: Annotated[
        float | None,
        typer.Option(
            metavar="HOURS",
            help="sources: silent after this many hours without an event (default 24).",
        ),
    ] = None,
    silent_only: Annotated[
        bool, typer.Option("--silent-only", help="sources: only the silent ones.")
    ] = False,
    tz: Annotated[
        str | None,
        typer.Option(
            metavar="ZONE",
            help="Set the site's time zone (IANA name) that days and hours are counted in; kept in the database.",
        ),
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", metavar="FORMAT", help="table, csv or jsonl.")
    ] = "table",
    item: Annotated[str | None, typer.Option(help="gradebook: only this gradable item (pk1).")] = None,
    matrix: Annotated[bool, typer.Option("--matrix", help="gradebook: users x items, like a Grade Center export.")] = False,
    distribution: Annotated[bool, typer.Option("--distribution", help="gradebook: per-item column statistics.")] = False,
) -> None:
    """Answer a question from the stored events (docs/analytics.md explains each report)."""
    from caliper_stream.analyse.gradebook import GRADEBOOK_COLUMNS, stream_gradebook
    from caliper_stream.analyse.summary import backlog, set_time_zone
    from caliper_stream.store import open_store

    if name not in REPORTS:
        raise typer.BadParameter(f"choose one of {', '.join(REPORTS)}", param_hint="NAME")
    if fmt not in ("table", "csv", "jsonl"):
        raise typer.BadParameter("must be table, csv or jsonl", param_hint="--format")
    if name == "gradebook" and (matrix or distribution):
        name = "grade-matrix" if matrix else "grade-distribution"
    fn = REPORTS[name]
    accepted = set(inspect.signature(fn).parameters) - {"store"}
    given = {
        "course": course,
        "user": user,
        "item": item,
        "test": test,
        "question": question,
        "since": since,
        "until": until,
        "by": by,
        "order": order,
        "limit": limit,
        "threshold_hours": threshold_hours,
        "silent_only": silent_only or None,
    }
    kwargs: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
    refused = sorted(set(kwargs) - accepted)
    if refused:
        options = ", ".join("--" + k.replace("_", "-") for k in refused)
        takes = ", ".join("--" + k.replace("_", "-") for k in sorted(accepted & set(given))) or "no options"
        fail(f"report {name} does not take {options} (it takes {takes})", 2)
    try:
        store = open_store(db)
        try:
            if tz is not None and set_time_zone(store, tz):
                err_console.print(
                    f"site time zone is now {tz}: summaries are rebuilt",
                    highlight=False,
                    markup=False,
                )
            behind = backlog(store)
            if behind > _ANNOUNCE:
                err_console.print(
                    f"bringing the analytics summaries up to date ({behind:,} events; once, then incremental)…",
                    highlight=False,
                    markup=False,
                )
            if name == "gradebook" and fmt != "table" and set(kwargs) <= {"course", "user", "item", "since"}:
                streamed = stream_gradebook(store, **kwargs)
                if streamed is not None:  # a site's gradebook: rows written as they are read
                    _print_stream(streamed, list(GRADEBOOK_COLUMNS), fmt)
                    return
            rows = fn(store, **kwargs)
        finally:
            store.close()
    except (CaliperStreamError, ValueError) as exc:
        fail(str(exc), 2)
    _print(rows, fmt, name)


def _print_stream(rows: Iterable[dict[str, Any]], columns: list[str], fmt: str) -> None:
    """CSV or JSON Lines of `rows` as they come, holding none of them (the header first)."""
    if fmt == "jsonl":
        encode = msgspec.json.Encoder().encode
        for row in rows:
            sys.stdout.write(encode(row).decode() + "\n")
        return
    writer = csv.DictWriter(sys.stdout, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)


def register(app: typer.Typer) -> None:
    """Add ``report``."""
    app.command("report")(report_command)
