"""``import``, ``export``, ``deadletters``, ``stats`` and ``db``: the commands around a store.

Each command opens the store named by ``--db`` (else ``$CALIPER_STREAM_DB``, else
``sqlite:///caliper-stream.db``), calls one library function and prints the outcome. Expected
failures (unreachable database, unreadable input) print one line and exit with status 2.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, BinaryIO

import msgspec
import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from rich.text import Text

from caliper_stream.cli.common import (
    SQL_INT_MAX,
    DbOpt,
    SinceOpt,
    UntilOpt,
    err_console,
    fail,
    opened_store,
    out_console,
    print_table,
)
from caliper_stream.errors import CaliperStreamError
from caliper_stream.store import redact

deadletters_app = typer.Typer(help="Inspect and replay dead letters (input that was not stored as an event).", no_args_is_help=True)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)


class _EventRate(ProgressColumn):
    def render(self, task: Task) -> Text:
        events = int(task.fields.get("events", 0))
        rate = events / task.elapsed if task.elapsed else 0.0
        return Text(f"{events:,} events {rate:,.0f}/s")


def import_(
    paths: Annotated[list[str], typer.Argument(metavar="PATH", help="Files or directories (json, jsonl, gzip); - is stdin.")],
    db: DbOpt = None,
    source: Annotated[
        str | None,
        typer.Option(metavar="NAME", help="Source recorded for every imported event (default: import:<file name>, "
                     "or import:<directory name> for all files of a directory)."),
    ] = None,
    strict: Annotated[bool, typer.Option(help="Dead-letter events that fail strict validation.")] = False,
    chunk: Annotated[int, typer.Option(metavar="N", help="Events per transaction (each file ends its last one).")] = 50_000,
    pipeline: Annotated[
        bool | None,
        typer.Option("--pipeline/--no-pipeline",
                     help="Parse in a second process while this one writes (default: for stdin and inputs of 16 MB or more)."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Store dumps in the database. Re-running is safe: nothing is stored twice.

    Exits 1 when an input yielded no event at all (only dead letters, or nothing)."""
    from caliper_stream.store.load import ANALYZE_AFTER, import_paths, total_bytes

    with opened_store(db) as store:
        total = total_bytes(paths)
        started = time.perf_counter()
        progress = Progress(
            TextColumn("importing"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            _EventRate(),
            TimeElapsedColumn(),
            console=err_console,
            disable=quiet,
        )
        with progress:
            task = progress.add_task("import", total=total or None, events=0)
            summary = import_paths(
                store,
                paths,
                chunk=chunk,
                strict=strict,
                progress=lambda done, s: progress.update(task, completed=done, events=s.events),
                source=source,
                pipeline=pipeline,
            )
            progress.update(task, completed=total, events=summary.events)
        seconds = time.perf_counter() - started
        r = summary.result
        err_console.print(
            f"{summary.files} file(s), {summary.bytes / 1e6:,.1f} MB, {summary.events:,} events in {seconds:,.1f}s "
            f"({summary.bytes / 1e6 / seconds if seconds else 0:,.1f} MB/s, "
            f"{summary.events / seconds if seconds else 0:,.0f} events/s)",
            highlight=False,
        )
        out_console.print(
            f"accepted {r.accepted:,}  duplicates {r.duplicates:,}  dead letters {r.dead_letters:,}"
            + (f"  repaired {summary.repaired:,}" if summary.repaired else ""),
            highlight=False,
        )
        if store.dialect == "postgresql" and r.accepted >= ANALYZE_AFTER:
            err_console.print(
                "the indexes of the months this import wrote are about half full: 'caliper-stream db reindex'"
                " packs them (online)", highlight=False, markup=False,
            )
    for path in summary.no_events:
        err_console.print(f"error: {path}: no event in this input (see 'caliper-stream deadletters list')", highlight=False, markup=False)
    if summary.no_events:
        raise typer.Exit(1)


@contextmanager
def _output(path: str) -> Iterator[BinaryIO]:
    if path == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    try:
        fh = Path(path).open("wb")  # noqa: SIM115 - closed below
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror}", 2)
    try:
        with fh:
            yield fh
    except BaseException:
        Path(path).unlink(missing_ok=True)  # no partial or empty output left behind
        raise


def export(
    db: DbOpt = None,
    fmt: Annotated[str, typer.Option("--format", "-f", metavar="jsonl|csv|parquet", help="jsonl, csv or parquet.")] = "jsonl",
    what: Annotated[
        str, typer.Option(metavar="events|keydata", help="events (the raw events) or keydata (one flat record per event).")
    ] = "events",
    since: SinceOpt = None,
    until: UntilOpt = None,
    course: Annotated[
        str | None,
        typer.Option(metavar="COURSE", help="Course number or pk: exact, a prefix (BIO-101) or a glob (BIO-*-26S-*)."),
    ] = None,
    item: Annotated[
        str | None,
        typer.Option(metavar="ITEM", help="Gradable item pk: exact, a prefix or a glob (_89*)."),
    ] = None,
    type_: Annotated[str | None, typer.Option("--type", metavar="TYPE", help="Event type term, e.g. AssessmentEvent.")] = None,
    out: Annotated[str, typer.Option("--out", "-o", metavar="FILE", help="Output file; - is stdout.")] = "-",
) -> None:
    """Write stored events, streaming (memory stays bounded whatever the size).

    jsonl events are one event per line, byte for byte as received, except events with line
    breaks or raw control characters, which are rewritten onto one line (same JSON value).
    A --course or --item that matches nothing is said on stderr with the closest values (exit 1)."""
    from caliper_stream.formats import FORMATS
    from caliper_stream.store.export import Filters, unmatched
    from caliper_stream.store.export import export as run_export

    if fmt not in FORMATS:
        fail(f"--format must be one of {', '.join(FORMATS)}", 2)
    if what not in ("events", "keydata"):
        fail("--what must be events or keydata", 2)
    if fmt == "parquet":
        from caliper_stream.formats.parquet import require_pyarrow

        try:
            require_pyarrow()  # before the output file exists
        except CaliperStreamError as exc:
            fail(str(exc), 2)
    filters = Filters(since=since, until=until, course=course, type=type_, item=item)
    with opened_store(db) as store:
        with _output(out) as fh:
            n = run_export(store, fh, fmt=fmt, what=what, filters=filters)  # type: ignore[arg-type]
        missing = unmatched(store, filters) if n == 0 else []
    if out != "-":
        err_console.print(f"{n:,} events written to {out}", highlight=False)
    for option, value, near in missing:
        hint = f"; closest: {', '.join(near)}" if near else "; the store holds none"
        err_console.print(f"{option} {value!r} matches no stored value{hint}", highlight=False, markup=False)
    if missing:
        raise typer.Exit(1)


def _reason_text(reasons: list[msgspec.Struct]) -> str:
    return "; ".join(str(r) for r in reasons)


@deadletters_app.command("list")
def deadletters_list(
    db: DbOpt = None,
    all_: Annotated[bool, typer.Option("--all", help="Include replayed dead letters.")] = False,
    limit: Annotated[int, typer.Option(metavar="N", min=1, max=SQL_INT_MAX, help="At most this many.")] = 100,
    after: Annotated[int, typer.Option(metavar="ID", help="Start after this id (paging).")] = 0,
) -> None:
    """Dead letters, oldest first."""
    with opened_store(db) as store:
        letters = store.list_dead_letters(limit, after_id=after, include_replayed=all_)
    rows = [
        {"id": dl.id, "received": dl.received_at, "source": dl.source, "bytes": len(dl.raw),
         "reasons": _reason_text(list(dl.reasons)), "replayed": dl.replayed_at}
        for dl in letters
    ]
    print_table(rows, ["id", "received", "source", "bytes", "reasons", "replayed"])


@deadletters_app.command("show")
def deadletters_show(
    id: Annotated[int, typer.Argument(metavar="ID", min=1, max=SQL_INT_MAX, help="Dead letter id.")],
    db: DbOpt = None,
    raw: Annotated[bool, typer.Option("--raw", help="Write only the exact raw bytes to stdout.")] = False,
) -> None:
    """One dead letter: why it was refused and its bytes."""
    with opened_store(db) as store:
        dl = store.get_dead_letter(id)
    if dl is None:
        fail(f"no dead letter {id}", 2)
    if raw:
        sys.stdout.buffer.write(dl.raw)
        sys.stdout.buffer.flush()
        return
    # plain writes, never a console: a console wraps long lines (URLs) at its width when piped
    head = [f"id {dl.id}  source {dl.source}  received {dl.received_at}"]
    if dl.replayed_at:
        head.append(f"replayed {dl.replayed_at}")
    head += [f"  {reason}" for reason in dl.reasons]
    head.append(f"{len(dl.raw)} bytes:")
    sys.stdout.write("\n".join(head) + "\n")
    sys.stdout.flush()
    sys.stdout.buffer.write(dl.raw)
    if not dl.raw.endswith(b"\n"):
        sys.stdout.buffer.write(b"\n")
    sys.stdout.buffer.flush()


@deadletters_app.command("replay")
def deadletters_replay(
    ids: Annotated[
        list[int] | None,
        typer.Argument(metavar="ID", min=1, max=SQL_INT_MAX, help="Dead letter ids (default: every pending one)."),
    ] = None,
    db: DbOpt = None,
    lenient: Annotated[
        bool,
        typer.Option(
            "--lenient",
            help="Accept what the endpoint accepts; by default replayed events must also pass strict validation.",
        ),
    ] = False,
) -> None:
    """Read dead letters again and move those that now read as events into the events table."""
    from caliper_stream.store.replay import replay

    with opened_store(db) as store:
        outcomes = replay(store, ids or [], strict=not lenient)
    moved = 0
    for o in outcomes:
        if o.ok:
            moved += 1
            out_console.print(
                f"{o.id}: replayed ({o.result.accepted} accepted, {o.result.duplicates} duplicates)", highlight=False
            )
        else:
            out_console.print(f"{o.id}: still refused: {_reason_text(list(o.reasons))}", highlight=False, markup=False)
    out_console.print(f"{moved} of {len(outcomes)} dead letters replayed", highlight=False)
    if any(o.missing for o in outcomes):
        raise typer.Exit(2)


def stats(
    db: DbOpt = None,
    json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """What the store holds: counts by source, type, action and day; newest event per source."""
    with opened_store(db) as store:
        s = store.stats()
    if json:
        sys.stdout.buffer.write(msgspec.json.format(msgspec.json.encode(s)) + b"\n")
        return
    out_console.print(
        f"{s.events:,} events, {s.dead_letters:,} dead letters ({s.dead_letters_pending:,} pending)", highlight=False
    )
    out_console.print(
        f"inbox: {s.inbox.rows:,} request bodies pending ({s.inbox.events:,} events, {s.inbox.bytes:,} bytes)",
        highlight=False,
    )
    for title, counts in (("source", s.by_source), ("type", s.by_type), ("action", s.by_action), ("day", s.by_day)):
        table = Table(title, "events", title=f"by {title}", title_justify="left")
        for c in counts:
            table.add_row(c.key or "—", f"{c.count:,}")
        out_console.print(table)
    newest = Table("source", "newest eventTime", "last received", title="newest", title_justify="left")
    for n in s.newest:
        newest.add_row(n.source or "—", n.event_time or "", n.received_at or "")
    out_console.print(newest)


@db_app.command("upgrade")
def db_upgrade(db: DbOpt = None) -> None:
    """Apply pending schema migrations (opening a store does this too)."""
    with opened_store(db, migrate=False) as store:
        applied = store.migrate()
        version = store.schema_version()
    where = redact(store.url)
    if applied:
        out_console.print(f"{where}: applied {', '.join(applied)} (schema version {version})", highlight=False)
    else:
        out_console.print(f"{where}: up to date (schema version {version})", highlight=False)


@db_app.command("compress")
def db_compress(
    db: DbOpt = None,
    batch: Annotated[int, typer.Option(min=1, max=100_000, help="Rows rewritten per transaction.")] = 1000,
) -> None:
    """Compress events stored plain (before the store's first dictionary, or by an older version).

    New events are compressed as they are written; this rewrites older rows a batch per
    transaction, so ingest goes on meanwhile and an interrupted run resumes where it stopped."""
    from caliper_stream.store.codec import compress_stored

    with opened_store(db) as store:
        try:
            done = compress_stored(store, batch=batch)
        except CaliperStreamError as exc:
            fail(str(exc), 2)
        current = store.query("SELECT max(id) FROM dictionaries")[0][0]
    if current is None:
        out_console.print("nothing compressed: too few events to train a dictionary on", highlight=False)
    else:
        out_console.print(f"{done:,} events compressed (dictionary {current})", highlight=False)


@db_app.command("vacuum")
def db_vacuum(db: DbOpt = None) -> None:
    """Give the space of deleted or rewritten rows back to the file system (after a migration
    that rewrote every event, or a large retention run).

    SQLite rebuilds the whole file (it needs room for a copy) and ingest waits meanwhile;
    PostgreSQL runs VACUUM FULL on the events, which locks them while it runs."""
    with opened_store(db) as store:
        try:
            warnings = store.vacuum(["events", "iri_prefixes", "dictionaries"])
        except CaliperStreamError as exc:
            fail(str(exc), 2)
    for warning in warnings:
        err_console.print(f"warning: {warning}", highlight=False)
    out_console.print(f"{redact(store.url)}: vacuumed", highlight=False)


@db_app.command("reindex")
def db_reindex(
    db: DbOpt = None,
    month: Annotated[
        list[str] | None, typer.Option(metavar="YYYY-MM", help="Only this month's partition (repeatable); default all.")
    ] = None,
) -> None:
    """Pack the events' indexes again, while ingest and queries go on (PostgreSQL).

    PostgreSQL's indexes that end in the event time keep their pages about half full as events
    arrive; rebuilt, they take about a third less. Run it once a month has passed (its partition
    then takes only late events), or after a large import. SQLite keeps its indexes packed."""
    from caliper_stream.analyse.summary import TABLES as SUMMARY_TABLES

    with opened_store(db) as store:
        try:
            # a month: its partition; else also the keys and the summaries, rebuilt chunk by chunk
            packed = store.reindex(["events"] if month else ["events", "event_keys", *SUMMARY_TABLES], month or ())
        except (CaliperStreamError, ValueError) as exc:
            fail(str(exc), 2)
    where = redact(store.url)
    if not packed:
        out_console.print(f"{where}: nothing to do: SQLite keeps its indexes packed", highlight=False)
        return
    out_console.print(f"{where}: reindexed", highlight=False)
    table = Table("table", "indexes before", "after")
    for p in packed:
        table.add_row(p.table, f"{p.before / 1e6:,.1f} MB", f"{p.after / 1e6:,.1f} MB")
    before, after = sum(p.before for p in packed), sum(p.after for p in packed)
    table.add_row("all", f"{before / 1e6:,.1f} MB", f"{after / 1e6:,.1f} MB", style="bold")
    out_console.print(table)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("import")(import_)
    app.command("export")(export)
    app.command("stats")(stats)
    app.add_typer(deadletters_app, name="deadletters")
    app.add_typer(db_app, name="db")
