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

Read-only files: a file (or directory) that cannot be written is opened for reading only, so
`stats`, `report` and `export` work on it; a write then fails with "read-only". The write
connection is (re)opened by the next write after any failure that a reconnect can cure (a file
read-only or missing when it was opened, an I/O error, a full disk): a database made writable
again needs no restart. Memory-mapped I/O stays off (``mmap_size = 0``): a mapped page of a file
truncated or made unreadable underneath the process is a SIGBUS, which no error handling can
catch. The WAL is checkpointed and truncated by `checkpoint` (the writer calls it when idle and
on shutdown), so it does not keep the size it reached during a burst or a disk-full episode.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Literal, cast

from caliper_stream.errors import StoreError, StoreUnavailable
from caliper_stream.ingest import Batch, Row
from caliper_stream.store.base import Backlog, Claim, Inboxed, WriteResult
from caliper_stream.store.common import EVENT_COLUMNS, SQLStore, attribute
from caliper_stream.store.inbox_file import InboxFile, inbox_path
from caliper_stream.store.keys import STORED_KEY, stored_key
from caliper_stream.store.times import STORED_TIME, time_key

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


#: SQLite result codes after which the write connection is re-opened before the next write.
_RECONNECT = ("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_IOERR", "SQLITE_FULL", "SQLITE_CORRUPT", "SQLITE_NOTADB")


def _code(exc: sqlite3.Error) -> str:
    return str(getattr(exc, "sqlite_errorname", "") or "")


def _error(exc: sqlite3.Error, what: str) -> StoreError:
    if _code(exc).startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN")) or "readonly" in str(exc):
        return StoreUnavailable(f"SQLite {what}: the database is read-only ({exc})")
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
        compression: bool = True,
    ) -> None:
        super().__init__(url, compression=compression)
        if durability not in ("normal", "full"):
            raise StoreError(f"durability must be 'normal' or 'full', not {durability!r}")
        self.path = path
        self.durability = durability
        self.busy_timeout = busy_timeout
        if path != ":memory:" and not Path(path).parent.is_dir():
            raise StoreUnavailable(f"SQLite: cannot open {path}: directory {Path(path).parent} does not exist")
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        #: The file could not be opened for writing: reads only, until a write succeeds.
        self.read_only = False
        self._reader_uri = path
        self._conn: sqlite3.Connection | None = None
        self._closed = False
        self.inbox = InboxFile(inbox_path(path), synchronous=durability.upper(), busy_timeout=busy_timeout)
        try:
            self._conn = self._connect(write=True)
            self._probe(self._conn)
        except StoreError:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            if not self._open_read_only():
                raise
        if migrate and not self.read_only:
            self.migrate()

    def _open_read_only(self) -> bool:
        """Fall back to reading an existing database that cannot be written."""
        if self.path == ":memory:" or not Path(self.path).is_file():
            return False
        self.read_only = True
        # mode=ro still needs the WAL index (-shm) to be creatable; a directory that cannot be
        # written has nobody writing in it either, so the file is then read as immutable
        for uri in (f"file:{self.path}?mode=ro", f"file:{self.path}?immutable=1"):
            self._reader_uri = uri
            try:
                self._connect().execute("SELECT count(*) FROM sqlite_master").fetchone()
            except (StoreError, sqlite3.Error):
                continue
            return True
        return False

    def _connect(self, write: bool = False) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.path if write else self._reader_uri, timeout=self.busy_timeout, isolation_level=None,
                check_same_thread=False, uri=not write and self._reader_uri.startswith("file:"),
            )
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            conn.execute("PRAGMA mmap_size = 0")
            if write:
                # only takes effect on a new database: before WAL mode writes its header
                conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute(f"PRAGMA synchronous = {self.durability.upper()}")
                # a larger page cache keeps the event_key and time indexes' hot pages in memory
                conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
                page_size = conn.execute("PRAGMA page_size").fetchone()[0]
                conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_BYTES // page_size}")
                # migration 0016 converts stored rows with the writer's own rules
                conn.create_function(STORED_KEY, 1, stored_key, deterministic=True)
                conn.create_function(STORED_TIME, 1, time_key, deterministic=True)
        except sqlite3.Error as exc:
            raise _error(exc, f"cannot open {self.path}") from exc
        return conn

    @staticmethod
    def _probe(conn: sqlite3.Connection) -> None:
        """Raise unless `conn` can write: rewrite the header's user_version, then roll back."""
        try:
            conn.execute("BEGIN IMMEDIATE")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            conn.execute(f"PRAGMA user_version = {int(version)}")
        except sqlite3.Error as exc:
            raise _error(exc, "cannot write") from exc
        finally:
            if conn.in_transaction:
                with suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")

    def _writer(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreUnavailable(f"SQLite: the store {self.path} is closed")
        if self._conn is None:
            self._conn = self._connect(write=True)
            if self.read_only:
                self._probe(self._conn)  # still read-only: say so before anything is attempted
                self.read_only = False
                self._reader_uri = self.path
        return self._conn

    def _drop_writer(self) -> None:
        if self._conn is not None:
            with suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Cursor]:
        try:
            conn = self._writer()
            cur = conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
        except StoreError:
            self._drop_writer()
            raise
        except sqlite3.Error as exc:
            self._drop_writer()
            raise _error(exc, "cannot begin a transaction") from exc
        try:
            yield cur
            cur.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                with suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                if _code(exc).startswith(_RECONNECT):
                    self._drop_writer()
                raise _error(exc, "write failed") from exc
            raise
        finally:
            # after a failed COMMIT (SQLITE_FULL, I/O error) the connection may already be
            # dropped, and closing its cursor raises: the caller must see the StoreError above
            with suppress(sqlite3.Error):
                cur.close()

    def probe_write(self) -> None:
        with self._write_lock:
            try:
                self._probe(self._writer())
            except (StoreError, sqlite3.Error) as exc:
                self._drop_writer()
                if isinstance(exc, StoreError):
                    raise
                raise _error(exc, "cannot write") from exc

    def checkpoint(self) -> None:
        """Move the WAL into the database and truncate it to zero bytes; purge digested bodies
        from the inbox file and truncate its WAL too."""
        if self.path == ":memory:":
            return
        self.inbox.purge(self._digested_through())
        with self._write_lock:
            if self._conn is None:
                return
            try:
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            except sqlite3.Error as exc:
                raise _error(exc, "checkpoint failed") from exc

    # --- inbox: a file of its own (store/inbox_file.py), digested up to a mark kept here -----

    def _digested_through(self) -> int:
        rows = self.query("SELECT digested_through FROM inbox_state")
        return int(rows[0][0]) if rows else 0

    def inbox_put(self, bodies: Sequence[Inboxed]) -> None:
        if not bodies:
            return
        if self.read_only:  # a database that cannot be written cannot digest: refuse, as a write would
            self.probe_write()
        self.inbox.put(bodies, self._digested_through())

    def digest_inbox(self, claim: Claim, work: Callable[[list[Inboxed]], list[Batch]]) -> list[WriteResult]:
        """Read the oldest bodies above the mark, parse them outside the write lock, then store
        their events and move the mark in ONE transaction. Bodies another digester stored
        meanwhile (a restart's old and new digester, for a moment) are skipped, not stored twice."""
        claimed = self.inbox.pending(self._digested_through(), claim)
        if not claimed:
            return []
        batches = work(claimed)
        with self._writing() as cur:
            mark = int(cur.execute("SELECT digested_through FROM inbox_state").fetchone()[0])
            fresh = [(item, batch) for item, batch in zip(claimed, batches, strict=True) if item.id > mark]
            inserted = self._store_digest(cur, [batch for _, batch in fresh])
            cur.execute("UPDATE inbox_state SET digested_through = max(digested_through, ?)", (claimed[-1].id,))
        done = iter(attribute([batch for _, batch in fresh], inserted))
        return [next(done) if item.id > mark else WriteResult() for item in claimed]

    def inbox_delete(self, ids: Sequence[int]) -> None:
        """Bodies stored otherwise (isolated poison): the oldest pending ones, so the mark moves."""
        if ids:
            with self._write_lock, self._transaction() as cur:
                cur.execute("UPDATE inbox_state SET digested_through = max(digested_through, ?)", (max(ids),))

    def inbox_backlog(self) -> Backlog:
        return self.inbox.backlog(self._digested_through())

    def _insert_events(self, cur: Any, rows: list[Row], values: list[tuple[Any, ...]]) -> set[str]:
        # Fast path: usually every event is new, and then the insert count says it all. When
        # some already exist, undo and redo knowing which: group commit must tell each
        # request exactly which of its events were new.
        cur.execute("SAVEPOINT events_insert")
        cur.executemany(_INSERT, values)
        if cur.rowcount == len(rows):
            cur.execute("RELEASE events_insert")
            return {r.event_key for r in rows}
        cur.execute("ROLLBACK TO events_insert")
        cur.execute("RELEASE events_insert")
        keys = [v[0] for v in values]  # as stored (store/keys.py)
        existing: set[bytes | str] = set()
        for i in range(0, len(keys), _LOOKUP_CHUNK):
            chunk = keys[i : i + _LOOKUP_CHUNK]
            cur.execute(
                f"SELECT event_key FROM events WHERE event_key IN ({', '.join('?' * len(chunk))})", chunk
            )
            existing.update(k for (k,) in cur.fetchall())
        fresh = [i for i, k in enumerate(keys) if k not in existing]
        cur.executemany(_INSERT, [values[i] for i in fresh])
        return {rows[i].event_key for i in fresh}

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
                conn = self._writer()
                conn.execute("PRAGMA secure_delete = ON")
                conn.execute("VACUUM")
                busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            except sqlite3.Error as exc:
                raise _error(exc, "VACUUM failed") from exc
        self.inbox.vacuum(self._digested_through())
        if busy:
            return ["the WAL could not be truncated while other connections read; run again when idle"]
        return []

    def close(self) -> None:
        self._closed = True
        self.inbox.close()
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
        with self._write_lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
