"""The embedded default: one SQLite file in WAL mode, zero setup.

Durability: every write is one ``BEGIN IMMEDIATE … COMMIT``. With ``synchronous=NORMAL`` (the
default) a commit is in the WAL file, i.e. in the operating system, when `write` returns: it
survives the process being killed (kill -9, OOM, crash) but the last commits before a power
loss or kernel panic may be lost. ``durability="full"`` (``synchronous=FULL``) fsyncs the WAL
on every commit so commits also survive power loss, at the cost of one fsync per transaction;
group commit (`caliper_stream.store.writer`) keeps that cost per *transaction*, not per event.

Concurrency: writes go through one connection under a lock (SQLite has one writer anyway);
reads use a connection per thread, and `stream` its own connection, so an export never blocks
ingest (WAL readers see the last committed state).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Literal, cast

from caliper_stream.errors import StoreError, StoreUnavailable
from caliper_stream.ingest import Row
from caliper_stream.store.common import EVENT_COLUMNS, SQLStore, event_values

Durability = Literal["normal", "full"]

_INSERT = (
    f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES ({', '.join('?' * len(EVENT_COLUMNS))})"
    " ON CONFLICT (event_key) DO NOTHING"
)
_LOOKUP_CHUNK = 500
CACHE_KIB = 64 * 1024
#: Page size of new databases. Learn's events are ~2.7–5.6 KB, so with SQLite's 4 KiB default
#: half of them spill into an overflow page; 16 KiB pages hold ~4 rows each and measured ~15 %
#: less CPU per inserted row (and 4× fewer WAL frames, each a pwrite). Larger pages lose: every
#: commit rewrites each index leaf page it touches, which in a large database is one page per
#: random event_key, so 64 KiB pages were slower from ~1M events on.
PAGE_SIZE = 16384
#: Checkpoint the WAL every ~64 MB instead of SQLite's 4 MB: each checkpoint costs an fsync of
#: the database file, which dominated bulk-write time.
WAL_CHECKPOINT_BYTES = 64 * 1024 * 1024


# Python < 3.12 binds None and bytes through the adapter protocol (only str, int, float and
# bytearray are exempt), and each lookup that finds no adapter raises and discards an
# AttributeError: ~0.5 µs per NULL or BLOB parameter, ~10 µs per event row (10 NULL key-data
# columns on average, and raw). A registered identity adapter is found at once. Registration is
# process-wide but changes nothing else: the adapters return the object itself.
_none: dict[None, None] = {}
sqlite3.register_adapter(type(None), cast("Callable[[None], None]", _none.get))  # C code, returns None
sqlite3.register_adapter(bytes, bytes)  # bytes(b) is b for exact bytes; subclasses are not matched


def _error(exc: sqlite3.Error, what: str) -> StoreError:
    if isinstance(exc, sqlite3.OperationalError):
        return StoreUnavailable(f"SQLite {what}: {exc}")
    return StoreError(f"SQLite {what}: {exc}")


class SQLiteStore(SQLStore):
    """A store in one SQLite database file."""

    dialect = "sqlite"

    def __init__(
        self,
        url: str,
        path: str,
        *,
        durability: Durability = "normal",
        busy_timeout: float = 30.0,
        migrate: bool = True,
    ) -> None:
        super().__init__(url)
        if durability not in ("normal", "full"):
            raise StoreError(f"durability must be 'normal' or 'full', not {durability!r}")
        self.path = path
        self.durability = durability
        self.busy_timeout = busy_timeout
        if path != ":memory:" and not Path(path).parent.is_dir():
            raise StoreUnavailable(f"SQLite: cannot open {path}: directory {Path(path).parent} does not exist")
        self._conn = self._connect(write=True)
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        if migrate:
            self.migrate()

    def _connect(self, write: bool = False) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
            )
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            if write:
                # only takes effect on a new database: before WAL mode writes its header
                conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute(f"PRAGMA synchronous = {self.durability.upper()}")
                # a larger page cache keeps the event_key and time indexes' hot pages in memory
                conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
                page_size = conn.execute("PRAGMA page_size").fetchone()[0]
                conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_BYTES // page_size}")
        except sqlite3.Error as exc:
            raise _error(exc, f"cannot open {self.path}") from exc
        return conn

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Cursor]:
        try:
            cur = self._conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise _error(exc, "cannot begin a transaction") from exc
        try:
            yield cur
            cur.execute("COMMIT")
        except BaseException as exc:
            if self._conn.in_transaction:
                with suppress(sqlite3.Error):
                    self._conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise _error(exc, "write failed") from exc
            raise
        finally:
            cur.close()

    def _insert_events(self, cur: Any, rows: list[Row]) -> set[str]:
        # Fast path: usually every event is new, and then the insert count says it all. When
        # some already exist, undo and redo knowing which: group commit must tell each
        # request exactly which of its events were new.
        cur.execute("SAVEPOINT events_insert")
        cur.executemany(_INSERT, [event_values(r) for r in rows])
        if cur.rowcount == len(rows):
            cur.execute("RELEASE events_insert")
            return {r.event_key for r in rows}
        cur.execute("ROLLBACK TO events_insert")
        cur.execute("RELEASE events_insert")
        keys = [r.event_key for r in rows]
        existing: set[str] = set()
        for i in range(0, len(keys), _LOOKUP_CHUNK):
            chunk = keys[i : i + _LOOKUP_CHUNK]
            cur.execute(
                f"SELECT event_key FROM events WHERE event_key IN ({', '.join('?' * len(chunk))})", chunk
            )
            existing.update(k for (k,) in cur.fetchall())
        fresh = [r for r in rows if r.event_key not in existing]
        cur.executemany(_INSERT, [event_values(r) for r in fresh])
        return {r.event_key for r in fresh}

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._reader().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise _error(exc, "query failed") from exc

    def stream(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Iterator[tuple[Any, ...]]:
        conn = self._connect()
        try:
            yield from conn.execute(sql, params)  # the cursor steps through SQLite row by row
        except sqlite3.Error as exc:
            raise _error(exc, "query failed") from exc
        finally:
            conn.close()

    def vacuum(self, tables: Sequence[str]) -> list[str]:
        """VACUUM rebuilds the whole file (freed pages are not copied), then the WAL, which still
        holds earlier page images, is checkpointed and truncated to zero bytes."""
        del tables  # SQLite vacuums the whole database
        with self._write_lock:
            try:
                self._conn.execute("PRAGMA secure_delete = ON")
                self._conn.execute("VACUUM")
                busy = self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            except sqlite3.Error as exc:
                raise _error(exc, "VACUUM failed") from exc
        if busy:
            return ["the WAL could not be truncated while other connections read; run again when idle"]
        return []

    def close(self) -> None:
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
        with self._write_lock:
            self._conn.close()
