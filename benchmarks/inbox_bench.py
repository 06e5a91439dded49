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
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from caliper_stream.store.base import Inboxed
from caliper_stream.store.inbox_file import InboxFile

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


def bodies(n: int, size: int) -> list[bytes]:
    """Distinct bodies of `size` bytes (their content does not matter to the count)."""
    filler = b'{"sensor": "bench", "data": [' + b"x" * size
    return [(b"%08d" % i + filler)[:size] for i in range(n)]


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", "--rows", type=int, default=200_000)
    ap.add_argument("--body-bytes", type=int, default=3000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--dir", help="where to build the files (default: a temporary directory)")
    args = ap.parse_args()
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
