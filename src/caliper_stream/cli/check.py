"""``validate`` and ``inspect``: read inputs with the one reader and report on every event."""

from __future__ import annotations

import csv
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import msgspec
import typer

from caliper_stream.cli.common import err_console, print_table
from caliper_stream.errors import ReadError
from caliper_stream.event import Event, decode
from caliper_stream.keydata import FIELDS
from caliper_stream.problems import Problem
from caliper_stream.read import input_files, read_path

PathsArg = Annotated[list[str], typer.Argument(metavar="PATH", help="Files or directories to read; - is stdin.")]

#: What ``inspect`` shows in a terminal table by default (all 31 fields rarely fit).
TABLE_FIELDS = (
    "event_time", "version", "type", "action", "user_pk", "course_number", "object_type",
    "gradable_item_pk", "attempt_pk", "score", "max_score", "grade_action", "question_type", "duration",
)


class InputReport(msgspec.Struct):
    """What ``validate`` prints for one input file (``--format json`` writes it as is)."""

    path: str
    events: int = 0
    accepted: int = 0
    rejected: int = 0
    documents: int = 0
    invalid_documents: int = 0
    unreadable: int = 0
    errors: list[dict[str, Any]] = msgspec.field(default_factory=list)
    warnings: list[dict[str, Any]] = msgspec.field(default_factory=list)
    #: warnings counted by kind (indexes and values left out), most frequent first
    warning_kinds: list[dict[str, Any]] = msgspec.field(default_factory=list)
    #: what each non-event document is ("an Agent entity")
    described: list[str] = msgspec.field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.rejected or self.invalid_documents or self.unreadable)


def _as_dict(problem: Problem) -> dict[str, Any]:
    return {"event": problem.event, "path": problem.path, "message": problem.message}


def _events(path: str) -> Iterator[Event]:
    for item in read_path(path):
        yield decode(item)


def input_paths(path: str) -> list[str]:
    """The files an input names: itself, or every dump in a directory (so that every problem
    is reported with its own file and event indexes count from 0 in each)."""
    if path != "-" and Path(path).is_dir():
        return [str(f) for f in input_files(Path(path))]
    return [path]


def check_input(path: str, strict: bool) -> InputReport:
    """Validate every event of one input file (raises ReadError when it cannot be opened)."""
    from caliper_stream.validate import validate_items

    found = validate_items(read_path(path), strict=strict, source=path)
    return InputReport(
        path=path,
        events=found.events,
        accepted=found.accepted,
        rejected=found.rejected,
        documents=found.documents,
        invalid_documents=found.invalid_documents,
        unreadable=found.unreadable,
        errors=[_as_dict(p) for p in found.problems if p.severity == "error"],
        warnings=[_as_dict(p) for p in found.problems if p.severity == "warning"],
        warning_kinds=[{"kind": kind, "count": n, "first": _as_dict(p)} for kind, n, p in found.warning_kinds()],
        described=found.described,
    )


def _summary(report: InputReport) -> str:
    line = (
        f"{report.path}: {report.events} events, {report.accepted} accepted, "
        f"{report.rejected} rejected, {len(report.warnings)} warnings"
    )
    if report.documents:
        kinds = Counter(report.described)
        named = ", ".join(f"{what}{f' ×{n}' if n > 1 else ''}" for what, n in kinds.items())
        verdict = "invalid" if report.invalid_documents == report.documents else "valid" if not report.invalid_documents else f"{report.invalid_documents} invalid"
        line += f"; {report.documents} other document{'s' if report.documents > 1 else ''} ({named}): {verdict}"
    if report.unreadable:
        line += f"; {report.unreadable} unreadable"
    return line


def _print_text(report: InputReport, every: bool) -> None:
    lines = [_summary(report)]
    lines += [f"  error: {p['path'] or '(input)'}: {p['message']}" for p in report.errors]
    if every:
        lines += [f"  warning: {p['path'] or '(input)'}: {p['message']}" for p in report.warnings]
    else:
        for kind in report.warning_kinds:
            if kind["count"] > 1:
                lines.append(f"  warning ×{kind['count']:,}: {kind['kind']}")
            else:
                p = kind["first"]
                lines.append(f"  warning: {p['path'] or '(input)'}: {p['message']}")
    sys.stdout.write("\n".join(lines) + "\n")


def validate_command(
    paths: PathsArg,
    strict: Annotated[bool, typer.Option("--strict", help="Check Caliper conformance, not only what Learn sends.")] = False,
    fmt: Annotated[str, typer.Option("--format", metavar="text|json", help="text or json (one JSON object per input file).")] = "text",
    every: Annotated[bool, typer.Option("--all", help="List every warning (default: alike warnings counted together).")] = False,
) -> None:
    """Validate Caliper payloads: exit 0 if every event is accepted, 1 if any is rejected (or a
    document is invalid, or a piece is unreadable), 2 on input that cannot be opened.

    A directory is reported file by file."""
    if fmt not in ("text", "json"):
        raise typer.BadParameter("must be text or json", param_hint="--format")
    err = err_console
    status = 0
    for given in paths:
        try:
            files = input_paths(given)
        except ReadError as exc:
            err.print(f"error: {exc}", highlight=False, markup=False)
            status = 2
            continue
        for path in files:
            try:
                report = check_input(path, strict)
            except ReadError as exc:
                err.print(f"error: {exc}", highlight=False, markup=False)
                status = 2
                continue
            if fmt == "json":
                sys.stdout.write(msgspec.json.encode(report).decode() + "\n")
            else:
                _print_text(report, every)
            if report.failed and status == 0:
                status = 1
    raise typer.Exit(status)


def _record(event: Event) -> dict[str, Any]:
    return msgspec.structs.asdict(event.keydata())


def inspect_command(
    paths: Annotated[list[str] | None, typer.Argument(metavar="PATH", help="Files or directories to read; - is stdin.")] = None,
    fmt: Annotated[str, typer.Option("--format", metavar="table|jsonl|csv", help="table, jsonl or csv.")] = "table",
    sample: Annotated[bool, typer.Option("--sample", help="Read the Learn-shaped sample shipped with the package.")] = False,
    fields: Annotated[
        str | None,
        typer.Option("--fields", metavar="FIELD,...|all", help="Comma-separated key-data fields, or 'all'. Default: all for jsonl/csv, a readable few for table."),
    ] = None,
) -> None:
    """Print Learn's key data, one record per event (rejected events are reported on stderr)."""
    if fmt not in ("table", "jsonl", "csv"):
        raise typer.BadParameter("must be table, jsonl or csv", param_hint="--format")
    chosen = _fields(fields, fmt)
    paths = list(paths or []) + ([str(sample_path())] if sample else [])
    if not paths:
        raise typer.BadParameter("give at least one PATH (or --sample)", param_hint="PATH")
    err = err_console
    status = 0
    records: list[dict[str, Any]] = []
    writer = csv.DictWriter(sys.stdout, fieldnames=chosen, lineterminator="\n") if fmt == "csv" else None
    if writer is not None:
        writer.writeheader()
    for path in paths:
        try:
            for event in _events(path):
                if event.rejection is not None:
                    err.print(f"rejected: {path}: {_rejection(event)}", highlight=False, markup=False)
                    status = max(status, 1)
                    continue
                full = _record(event)
                record = full if len(chosen) == len(FIELDS) else {f: full[f] for f in chosen}
                if writer is not None:
                    writer.writerow(record)
                elif fmt == "jsonl":
                    sys.stdout.write(msgspec.json.encode(record).decode() + "\n")
                else:
                    records.append(record)
        except ReadError as exc:
            err.print(f"error: {exc}", highlight=False, markup=False)
            status = 2
    if fmt == "table":
        print_table(records, chosen)
    raise typer.Exit(status)


def _rejection(event: Event) -> str:
    """Why an event has no key data: its rejection, or what the document is instead."""
    from caliper_stream.validate.report import described

    what = described(event)
    return f"{event.path or '(input)'}: {what}, not an event" if what else str(event.rejection)


def _fields(given: str | None, fmt: str) -> list[str]:
    if given is None:
        return list(TABLE_FIELDS if fmt == "table" else FIELDS)
    if given.strip() == "all":
        return list(FIELDS)
    chosen = [f.strip() for f in given.split(",") if f.strip()]
    unknown = [f for f in chosen if f not in FIELDS]
    if unknown or not chosen:
        raise typer.BadParameter(f"unknown field(s) {', '.join(unknown) or '(none)'}; known: {', '.join(FIELDS)}", param_hint="--fields")
    return chosen


def register(app: typer.Typer) -> None:
    """Add ``validate`` and ``inspect``."""
    app.command("validate")(validate_command)
    app.command("inspect")(inspect_command)


def sample_path() -> Path:
    """The Learn-shaped sample payload shipped with the package (used by the README)."""
    return Path(__file__).resolve().parents[1] / "samples" / "learn-term-sample.json"
