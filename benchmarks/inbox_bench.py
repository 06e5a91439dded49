"""The SQLite inbox file's backlog count on a large backlog, before and after its covering index.

    python benchmarks/inbox_bench.py                       # 200,000 bodies of 3,000 bytes
    python benchmarks/inbox_bench.py -n 50000 --body-bytes 330000 --dir /var/tmp

The count (rows, events and bytes above the digested mark) is what ``/metrics``, ``/readyz``
and the 429 backlog limit ask for, twice a second, exactly when the backlog is large. Three
files of the same bodies:

- ``before``: the schema without the ``bytes`` column, 4 KiB pages, counted as the code did
  (``sum(length(body))`` over the table, whose pages hold the bodies);
- ``upgraded``: that file opened by `InboxFile` (the in-place upgrade is timed): its earlier
  rows are still sized from their bodies; then, once they are digested, as many new bodies,
  counted from the index ``inbox_backlog`` (still 4 KiB pages);
- ``new``: a file made by `InboxFile` (64 KiB pages, the index from the start).

Each count is timed on one long-lived connection, as the server holds it (the OS page cache
is warm after the first run, SQLite's own cache is far smaller than the table): the first
run and the median of the next ones.

With ``--db postgresql://…`` the same bodies go to PostgreSQL's ``inbox`` table instead, each
case in a schema of its own (dropped afterwards):

- ``before``: the table as migration 0012 left it, vacuumed, counted with ``sum(length(body))``;
- ``migrated``: that table taken to 0013 by the store (timed), counted by `inbox_backlog`
  before and after a VACUUM (the migration's UPDATE leaves every heap page not all-visible, and
  an index-only scan would have to visit them all: PostgreSQL scans the heap, as before, until
  a vacuum sets the visibility map again);
- ``new``: bodies written by `inbox_put` (0013 from the start), counted before and after a VACUUM.

Each line gives the plan's scan, its heap fetches and the buffers it touched. PostgreSQL
compresses a body of more than ~2 KB and keeps it in line if it then fits, else out of line in
TOAST; either way ``length(body)`` reads only the value's header, so what the old count reads is
the heap, whose size depends on the bodies: ``--bodies caliper`` (events of distinct ids, as
Learn sends) stay in line at under a third of their size, the default repetitive filler shrinks to a
few hundred bytes, ``--bodies random`` go to TOAST.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg

from caliper_stream.ingest import now
from caliper_stream.store import open_store
from caliper_stream.store.base import Inboxed
from caliper_stream.store.inbox_file import InboxFile
from caliper_stream.store.migrations import SCHEMA_MIGRATIONS_DDL, migrations

OLD_DDL = """CREATE TABLE inbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    body BLOB NOT NULL,
    source TEXT NOT NULL,
    received_at TEXT NOT NULL,
    content_type TEXT NOT NULL DEFAULT '',
    events INTEGER NOT NULL DEFAULT 0,
    protected INTEGER NOT NULL DEFAULT 0
)"""
OLD_COUNT = "SELECT count(*), coalesce(sum(events), 0), coalesce(sum(length(body)), 0) FROM inbox WHERE id > ?"
CHUNK = 5000


def bodies(n: int, size: int, kind: str = "repetitive") -> list[bytes]:
    """Distinct bodies of `size` bytes. Their content does not matter to the count, but to
    PostgreSQL's compression of them: ``repetitive`` ones shrink to a few hundred bytes in line,
    ``random`` ones (incompressible) go out of line to TOAST, ``caliper`` ones (events with
    their own ids and times, as Learn sends) shrink to under a third and stay in line, in the heap."""
    if kind == "random":
        return [os.urandom(size // 2 + 1).hex().encode()[:size] for _ in range(n)]
    if kind == "caliper":
        return [caliper_body(size) for _ in range(n)]
    filler = b'{"sensor": "bench", "data": [' + b"x" * size
    return [(b"%08d" % i + filler)[:size] for i in range(n)]


def caliper_body(size: int) -> bytes:
    """A Caliper envelope of about `size` bytes: NavigationEvents of distinct ids, users and times."""
    out = b'{"sensor":"https://example.edu/learn","sendTime":"2026-01-01T00:00:00.000Z","data":['
    while len(out) < size:
        r = os.urandom(24).hex().encode()
        out += (
            b'{"@context":"http://purl.imsglobal.org/ctx/caliper/v1p1","id":"urn:uuid:' + r[:32] + b'",'
            b'"type":"NavigationEvent","action":"NavigatedTo","eventTime":"2026-01-01T'
            + r[32:34] + b":" + r[34:36] + b"." + r[36:39] + b'Z",'
            b'"actor":{"id":"https://example.edu/learn/users/_' + r[39:44] + b'_1","type":"Person"},'
            b'"object":{"id":"https://example.edu/learn/courses/_' + r[44:46] + b"_1/content/_" + r[46:48]
            + b'_1","type":"WebPage"}},'
        )
    return out[:size]


def timed(run: Callable[[], object], repeat: int) -> tuple[float, float, object]:
    """Seconds of the first run, the median of the next `repeat`, and the result."""
    started = time.perf_counter()
    result = run()
    first = time.perf_counter() - started
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return first, statistics.median(times), result


def build_old(path: Path, data: list[bytes]) -> None:
    with sqlite3.connect(path, isolation_level=None) as conn:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(OLD_DDL)
        for i in range(0, len(data), CHUNK):
            conn.execute("BEGIN")
            conn.executemany(
                "INSERT INTO inbox (body, source, received_at, content_type, events) VALUES (?, 'bench', ?, ?, 100)",
                [(b, "2026-01-01T00:00:00.000Z", "application/json") for b in data[i : i + CHUNK]],
            )
            conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def build_new(path: Path, data: list[bytes]) -> None:
    inbox = InboxFile(str(path), synchronous="NORMAL", busy_timeout=30)
    for i in range(0, len(data), CHUNK):
        inbox.put([Inboxed(b, "bench", "2026-01-01T00:00:00.000Z", "application/json", 100)
                   for b in data[i : i + CHUNK]], 0)
    inbox.purge(0)  # truncates the WAL, as the idle server does
    inbox.close()


def size_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) / 1e6


# --- PostgreSQL -----------------------------------------------------------------------------

PG_OLD_COUNT = "SELECT count(*), coalesce(sum(events), 0), coalesce(sum(length(body)), 0) FROM inbox"
PG_NEW_COUNT = (
    "SELECT count(*), coalesce(sum(events), 0), coalesce(sum(bytes), 0), count(*) - count(bytes) FROM inbox"
)


def in_schema(url: str, schema: str) -> str:
    """`url` with its tables in `schema` (the store and every connection of it follow the URL)."""
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options={quote(f'-c search_path={schema}')}"


def pg_at_0012(url: str, data: list[bytes]) -> None:
    """The schema as migration 0012 left it, and `data` waiting in its inbox (COPY)."""
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.execute(SCHEMA_MIGRATIONS_DDL)
        for mig in migrations("postgresql"):
            if mig.version >= 13:
                break
            for statement in mig.statements():
                cur.execute(statement)
            cur.execute("INSERT INTO schema_migrations VALUES (%s, %s, %s)", (mig.version, mig.name, now()))
        with cur.copy("COPY inbox (body, source, received_at, content_type, events) FROM STDIN") as copy:
            for b in data:
                copy.write_row((b, "bench", "2026-01-01T00:00:00.000Z", "application/json", 100))


def vacuum(conn: psycopg.Connection[Any]) -> None:
    conn.execute("VACUUM ANALYZE inbox")


def plan(conn: psycopg.Connection[Any], sql: str) -> str:
    """The count's scan, its heap fetches and buffers, from EXPLAIN (ANALYZE, BUFFERS)."""
    lines = [r[0].strip() for r in conn.execute(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF) {sql}")]
    scan = next((ln.removeprefix("-> ").split(" (")[0] for ln in lines if "Scan" in ln), "?")
    fetches = next((ln for ln in lines if ln.startswith("Heap Fetches")), "")
    buffers = next((ln.removeprefix("Buffers: ") for ln in lines if ln.startswith("Buffers")), "")
    return f"{scan}; {fetches + '; ' if fetches else ''}buffers {buffers}"


def sizes(conn: psycopg.Connection[Any]) -> str:
    row = conn.execute(
        "SELECT pg_relation_size('inbox'), pg_table_size('inbox'),"
        " coalesce(pg_relation_size(to_regclass('inbox_backlog')), 0)"
    ).fetchone()
    assert row is not None
    return f"heap {row[0] / 1e6:,.0f} MB, heap+TOAST {row[1] / 1e6:,.0f} MB, index inbox_backlog {row[2] / 1e6:,.1f} MB"


def report(label: str, conn: psycopg.Connection[Any], sql: str, run: Callable[[], object], repeat: int) -> None:
    first, median, result = timed(run, repeat)
    print(f"{label:24} first {first * 1000:8.1f} ms   median {median * 1000:8.1f} ms   {result}\n"
          f"{'':24} {plan(conn, sql)}")


def main_postgres(args: argparse.Namespace) -> None:
    tag = f"bench_{os.getpid()}"
    with psycopg.connect(args.db, autocommit=True) as admin:
        version = admin.execute("SHOW server_version").fetchone()
        print(f"PostgreSQL {version[0] if version else '?'}; {args.rows:,} bodies of {args.body_bytes:,} bytes"
              f" ({args.bodies})")
        for case in ("old", "new"):
            admin.execute(f"CREATE SCHEMA {tag}_{case}")
        try:
            old, new = in_schema(args.db, f"{tag}_old"), in_schema(args.db, f"{tag}_new")
            data = bodies(args.rows, args.body_bytes, args.bodies)
            pg_at_0012(old, data)
            with psycopg.connect(old, autocommit=True) as conn:
                vacuum(conn)
                print(f"before: {sizes(conn)}")
                report("before", conn, PG_OLD_COUNT, lambda: conn.execute(PG_OLD_COUNT).fetchone(), args.repeat)
                started = time.perf_counter()
                store = open_store(old)  # migrates: 0013 runs here
                upgrade = time.perf_counter() - started
                print(f"migrated to 0013 in {upgrade:.2f} s: {sizes(conn)}")
                report("migrated, not vacuumed", conn, PG_NEW_COUNT, store.inbox_backlog, args.repeat)
                vacuum(conn)
                report("migrated, vacuumed", conn, PG_NEW_COUNT, store.inbox_backlog, args.repeat)
                store.close()

            store = open_store(new)
            for i in range(0, len(data), CHUNK):
                store.inbox_put([Inboxed(b, "bench", "2026-01-01T00:00:00.000Z", "application/json", 100)
                                 for b in data[i : i + CHUNK]])
            del data
            with psycopg.connect(new, autocommit=True) as conn:
                conn.execute("ANALYZE inbox")
                print(f"new: {sizes(conn)}")
                report("new, not vacuumed", conn, PG_NEW_COUNT, store.inbox_backlog, args.repeat)
                report("new, old count", conn, PG_OLD_COUNT, lambda: conn.execute(PG_OLD_COUNT).fetchone(), args.repeat)
                vacuum(conn)
                report("new, vacuumed", conn, PG_NEW_COUNT, store.inbox_backlog, args.repeat)
                report("new, vacuumed, old count", conn, PG_OLD_COUNT,
                       lambda: conn.execute(PG_OLD_COUNT).fetchone(), args.repeat)
            store.close()
        finally:
            for case in ("old", "new"):
                admin.execute(f"DROP SCHEMA IF EXISTS {tag}_{case} CASCADE")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", "--rows", type=int, default=200_000)
    ap.add_argument("--body-bytes", type=int, default=3000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--dir", help="where to build the files (default: a temporary directory)")
    ap.add_argument("--db", help="a postgresql:// URL: measure PostgreSQL's inbox table instead")
    ap.add_argument("--bodies", choices=["repetitive", "caliper", "random"], default="repetitive",
                    help="the bodies' content (PostgreSQL compresses them: see bodies())")
    args = ap.parse_args()
    if args.db:
        main_postgres(args)
        return
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        data = bodies(args.rows, args.body_bytes)
        old, new = Path(tmp) / "old-inbox", Path(tmp) / "new-inbox"
        build_old(old, data)
        build_new(new, data)
        del data
        print(f"{args.rows:,} bodies of {args.body_bytes:,} bytes; old file {size_mb(old):,.0f} MB,"
              f" new file {size_mb(new):,.0f} MB")

        with sqlite3.connect(old) as conn:
            first, median, result = timed(lambda: conn.execute(OLD_COUNT, (0,)).fetchone(), args.repeat)
        conn.close()
        print(f"before    first {first * 1000:9.1f} ms   median {median * 1000:9.1f} ms   {result}")

        started = time.perf_counter()
        upgraded = InboxFile(str(old), synchronous="NORMAL", busy_timeout=30)
        upgraded.backlog(0)  # opens the file: the upgrade runs here
        upgrade = time.perf_counter() - started
        first, median, result = timed(lambda: upgraded.backlog(0), args.repeat)
        print(f"upgraded  first {first * 1000:9.1f} ms   median {median * 1000:9.1f} ms   {result}"
              f"   (upgrade in place: {upgrade:.2f} s, file now {size_mb(old):,.0f} MB; its rows are sized"
              " from their bodies until digested)")
        # the earlier rows digested (the mark past them, purged by the next put), a backlog as large again
        data = bodies(args.rows, args.body_bytes)
        for i in range(0, len(data), CHUNK):
            upgraded.put([Inboxed(b, "bench", "2026-01-01T00:00:00.000Z", "application/json", 100)
                          for b in data[i : i + CHUNK]], args.rows)
        del data
        first, median, result = timed(lambda: upgraded.backlog(args.rows), args.repeat)
        upgraded.close()
        print(f"upgraded, later bodies  first {first * 1000:9.1f} ms   median {median * 1000:9.1f} ms   {result}")

        inbox = InboxFile(str(new), synchronous="NORMAL", busy_timeout=30)
        first, median, result = timed(lambda: inbox.backlog(0), args.repeat)
        inbox.close()
        print(f"new       first {first * 1000:9.1f} ms   median {median * 1000:9.1f} ms   {result}")


if __name__ == "__main__":
    main()
