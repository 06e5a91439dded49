"""``report``: the analytics questions (gradebook, test funnels, item timings, activity)."""

from __future__ import annotations

import csv
import sys
from typing import Annotated, Any

import msgspec
import typer

from caliper_stream.analyse import REPORTS
from caliper_stream.cli.common import DbOpt, err_console, fail, print_table
from caliper_stream.errors import CaliperStreamError


def _print(rows: list[dict[str, Any]], fmt: str, title: str) -> None:
    if fmt == "jsonl":
        for row in rows:
            sys.stdout.write(msgspec.json.encode(row).decode() + "\n")
        return
    if not rows:
        err_console.print(f"{title}: no rows", highlight=False, markup=False)
        return
    if fmt == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return
    print_table(rows, list(rows[0]), title)


def report_command(
    name: Annotated[str, typer.Argument(help="gradebook, grade-matrix, grade-distribution, funnel, items or activity.")],
    db: DbOpt = None,
    course: Annotated[str | None, typer.Option(help="Only this course (its courseNumber / batch_uid).")] = None,
    user: Annotated[str | None, typer.Option(help="Only this user (uuid, pk1 or batch_uid); gradebook and activity.")] = None,
    by: Annotated[str, typer.Option(help="activity: group by course, user or day.")] = "course",
    fmt: Annotated[str, typer.Option("--format", help="table, csv or jsonl.")] = "table",
    item: Annotated[str | None, typer.Option(help="gradebook: only this gradable item (pk1).")] = None,
    matrix: Annotated[bool, typer.Option("--matrix", help="gradebook: users x items, like a Grade Center export.")] = False,
    distribution: Annotated[bool, typer.Option("--distribution", help="gradebook: per-item column statistics.")] = False,
) -> None:
    """Answer a question from the stored events."""
    from caliper_stream.store import open_store

    if name not in REPORTS:
        raise typer.BadParameter(f"choose one of {', '.join(REPORTS)}", param_hint="NAME")
    if fmt not in ("table", "csv", "jsonl"):
        raise typer.BadParameter("must be table, csv or jsonl", param_hint="--format")
    if name == "gradebook" and (matrix or distribution):
        name = "grade-matrix" if matrix else "grade-distribution"
    kwargs: dict[str, Any] = {"course": course}
    if name in ("gradebook", "grade-matrix", "grade-distribution", "activity"):
        kwargs["user"] = user
    if name.startswith("grade"):
        kwargs["item"] = item
    if name == "activity":
        kwargs["by"] = by
    try:
        store = open_store(db)
        try:
            rows = REPORTS[name](store, **kwargs)
        finally:
            store.close()
    except (CaliperStreamError, ValueError) as exc:
        fail(str(exc), 2)
    _print(rows, fmt, name)


def register(app: typer.Typer) -> None:
    """Add ``report``."""
    app.command("report")(report_command)
