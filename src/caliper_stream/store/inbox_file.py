"""SQLite's inbox: acknowledged request bodies in a file of their own, next to the database.

Why a second file: SQLite has one writer per file. With the inbox inside the database, every
acknowledgement (a short insert by the HTTP process) queued behind the digester's long
transactions, and SQLite's busy handler waits by sleeping (up to 100 ms at a time): p99 latency
rose and neither process kept a core busy. In a file of its own the inbox has a single writer,
the HTTP process; the digester only reads it.

Exactly once without a shared transaction: the database records how far the inbox is digested
(``inbox_state.digested_through``, an inbox id) in the same transaction as the events it
stored, so a digest either committed its events *and* its mark or neither. Rows at or below the
mark are purged later by the inbox's writer (on its next insert, and when idle). Ids come from
``AUTOINCREMENT`` and never go back: a new or restored inbox file is started above the mark, so
no body can ever hide below it.

Durability is the database's: WAL, with the same ``synchronous`` setting.

Checkpoints run behind the acknowledgements, on a connection of their own (`_Checkpointer`):
a checkpoint copies the WAL's bodies into the file and syncs it, and run by the committing
connection (SQLite's automatic checkpoint) it held the inbox's lock while it did, so every
request waiting for an acknowledgement waited for it too (p99 325 ms at 8 connections, against
70 ms with none during the run). A passive checkpoint from another connection does not block
the writer, but under steady inserts it never catches up, so the WAL never starts over; a short
RESTART between two inserts finishes it. Should the checkpointer fall behind, the writer's own
automatic checkpoint, set far higher, bounds the WAL.

Bodies are stored compressed (zstd level 1, ``codec`` 1): writing them is what acknowledging
costs the HTTP process most, twice over (into the WAL, then the checkpoint's copy into the
file). An envelope repeats its keys and IRIs from event to event, so level 1 shrinks it 20–130
times at 1.7–3 GB/s, and reading it back costs the digester 0.03–0.05 ms a body. Rows of a file
made before (``codec`` 0) are read as they are.

The backlog (rows, events and bytes above the mark: /metrics, /readyz and the 429 limit ask
for it twice a second) is counted from the index ``inbox_backlog`` on (id, events, bytes),
which holds a few bytes per row, instead of stepping through the table's pages, which hold
the bodies. A file made before the ``bytes`` column is upgraded in place when opened (`_upgrade`).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any

import zstandard

from caliper_stream.errors import StoreError, StoreUnavailable
from caliper_stream.store.base import INBOX_COLUMNS as COLUMNS
from caliper_stream.store.base import Backlog, Claim, Inboxed

#: ``codec`` of a body stored plain (files made before compression) and zstd-compressed.
PLAIN, ZSTD = 0, 1
#: zstd level of the bodies: level 1 compressed envelopes as small as level 3 (within 3 %) at
#: 1.1-2.9 × its speed; the bodies are deleted once digested, so speed is what counts.
LEVEL = 1
_DDL = """CREATE TABLE IF NOT EXISTS inbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    body BLOB NOT NULL,
    source TEXT NOT NULL,
    received_at TEXT NOT NULL,
    content_type TEXT NOT NULL DEFAULT '',
    events INTEGER NOT NULL DEFAULT 0,
    protected INTEGER NOT NULL DEFAULT 0,
    bytes INTEGER,
    codec INTEGER NOT NULL DEFAULT 0
)"""
#: Covers the backlog count: a range of ids, summing events and bytes, without the bodies' pages.
_INDEX = "CREATE INDEX IF NOT EXISTS inbox_backlog ON inbox (id, events, bytes)"
_INSERT = f"INSERT INTO inbox ({', '.join(COLUMNS)}, bytes, codec) VALUES (?, ?, ?, ?, ?, ?, ?, {ZSTD})"
_BACKLOG = (
    "SELECT count(*), coalesce(sum(events), 0), coalesce(sum(bytes), 0), coalesce(sum(bytes IS NULL), 0)"
    " FROM inbox WHERE id > ?"
)
#: The size of rows kept from a file of the earlier schema (``bytes`` NULL), from their bodies.
_UNSIZED = "SELECT coalesce(sum(length(body)), 0) FROM inbox WHERE id > ? AND bytes IS NULL"
#: Page size of a new inbox file. Bodies are whole envelopes (Learn's 100-event ones ≈ 330 KB):
#: with 4 KiB pages each is a chain of ~80 overflow pages, with 64 KiB pages ~5. Unlike the
#: database, the inbox has no random-key index whose leaf pages every commit rewrites.
PAGE_SIZE = 65536
#: WAL bytes written since the last checkpoint after which the checkpointer is woken.
CHECKPOINT_BYTES = 16 * 1024 * 1024
#: The writer's own automatic checkpoint (a backstop when the checkpointer falls behind).
BACKSTOP_BYTES = 512 * 1024 * 1024
#: Seconds the checkpointer's RESTART waits for the digester's read to end (it holds up puts).
RESTART_WAIT = 0.2
#: Bytes of bodies the digester reads per statement: each read is a snapshot a RESTART waits
#: for, so a digest's claim (up to 64 MiB) is read in pieces (whole, it held puts up for 0.2 s).
READ_BYTES = 8 * 1024 * 1024
_SELECT = f"SELECT id, {', '.join(COLUMNS)}, codec FROM inbox WHERE id > ? ORDER BY id LIMIT ?"
#: What `Claim.take` weighs: each body's events and bytes as received (rows of the earliest
#: schema: the length of the body, stored plain then).
_SIZES = "SELECT events, coalesce(bytes, length(body)) FROM inbox WHERE id > ? ORDER BY id LIMIT ?"


def _reads(sizes: Sequence[int]) -> Iterator[int]:
    """How many of the bodies of `sizes` (bytes, oldest first) each read takes: as many as reach
    `READ_BYTES`, the last read the rest."""
    start, weight = 0, 0
    for i, size in enumerate(sizes, start=1):
        weight += size
        if weight >= READ_BYTES or i == len(sizes):
            yield i - start
            start, weight = i, 0


def inbox_path(database: str) -> str:
    """Where the inbox of the database file `database` lives."""
    return database if database == ":memory:" else f"{database}-inbox"


def _error(exc: sqlite3.Error, what: str) -> StoreError:
    if isinstance(exc, sqlite3.OperationalError):
        return StoreUnavailable(f"SQLite inbox {what}: {exc}")
    return StoreError(f"SQLite inbox {what}: {exc}")


def _upgrade(conn: sqlite3.Connection) -> None:
    """Bring a file of an earlier schema up to this one (in the caller's transaction): the
    ``bytes`` and ``codec`` columns and the backlog's covering index. The rows already held
    keep ``bytes`` NULL and are sized from their bodies until digested: filling the column would
    rewrite every body, i.e. need the backlog's size again in free disk, and hold the inbox's
    write lock (every acknowledgement) meanwhile. They are plain (``codec`` 0)."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(inbox)")}
    if "bytes" not in columns:
        conn.execute("ALTER TABLE inbox ADD COLUMN bytes INTEGER")
    if "codec" not in columns:
        conn.execute(f"ALTER TABLE inbox ADD COLUMN codec INTEGER NOT NULL DEFAULT {PLAIN}")
    conn.execute(_INDEX)


class InboxFile:
    """The inbox file of one SQLite store: one connection, under a lock (reads are short)."""

    def __init__(self, path: str, *, synchronous: str, busy_timeout: float) -> None:
        self.path = path
        self.synchronous = synchronous
        self.busy_timeout = busy_timeout
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._checkpointer: _Checkpointer | None = None

    def exists(self) -> bool:
        return self._conn is not None or self.path == ":memory:" or Path(self.path).is_file()

    def _open(self, floor: int) -> sqlite3.Connection:
        if self._conn is not None:
            return self._conn
        try:
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            conn.execute("PRAGMA mmap_size = 0")
            # only takes effect on a new file: before WAL mode writes its header
            conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {self.synchronous}")
            conn.execute(f"PRAGMA wal_autocheckpoint = {BACKSTOP_BYTES // PAGE_SIZE}")
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(_DDL)
            _upgrade(conn)
            # ids never go back below what the database says is digested (a new or restored file)
            row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'inbox'").fetchone()
            if row is None:
                conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('inbox', ?)", (floor,))
            elif int(row[0]) < floor:
                conn.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'inbox'", (floor,))
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise _error(exc, f"cannot open {self.path}") from exc
        self._conn = conn
        return conn

    def _run(self, floor: int, what: str, work: Any) -> Any:
        with self._lock:
            conn = self._open(floor)
            try:
                return work(conn)
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    with suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                self._drop()
                raise _error(exc, what) from exc

    def put(self, bodies: Sequence[Inboxed], digested_through: int) -> None:
        """Insert `bodies` in ONE durable transaction, purging rows digested meanwhile (compressed
        before the inbox's lock is taken)."""
        compress = zstandard.ZstdCompressor(level=LEVEL, write_checksum=True).compress
        rows = [(compress(b.body), b.source, b.received_at, b.content_type, b.events, int(b.protected), len(b.body))
                for b in bodies]

        def work(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("DELETE FROM inbox WHERE id <= ?", (digested_through,))
            conn.executemany(_INSERT, rows)
            conn.execute("COMMIT")

        self._run(digested_through, "write failed", work)
        if self.path != ":memory:":
            if self._checkpointer is None:
                self._checkpointer = _Checkpointer(self.path, self._lock)
            self._checkpointer.wrote(sum(len(r[0]) for r in rows))

    def pending(self, digested_through: int, claim: Claim) -> list[Inboxed]:
        """The oldest bodies above the mark, within `claim`."""
        if not self.exists():
            return []

        decompress = zstandard.ZstdDecompressor().decompress

        def body(stored: bytes, codec: int) -> bytes:
            if codec == PLAIN:
                return bytes(stored)
            if codec != ZSTD:
                raise StoreError(f"SQLite inbox {self.path}: a body in an unknown codec ({codec}), from a newer version")
            try:
                return decompress(stored)
            except zstandard.ZstdError as exc:
                raise StoreError(f"SQLite inbox {self.path}: a body that does not decompress ({exc})") from exc

        def work(conn: sqlite3.Connection) -> list[Inboxed]:
            sizes = conn.execute(_SIZES, (digested_through, claim.events)).fetchall()
            out: list[Inboxed] = []
            after = digested_through
            for n in _reads([size for _, size in sizes[: claim.take(sizes)]]):
                rows = conn.execute(_SELECT, (after, n)).fetchall()
                out += [Inboxed(body(r[1], r[7]), r[2], r[3], r[4], int(r[5]), bool(r[6]), id=int(r[0])) for r in rows]
                if len(rows) < n:  # purged meanwhile: digested by another digester
                    break
                after = out[-1].id
            return out

        return self._run(digested_through, "read failed", work)  # type: ignore[no-any-return]

    def backlog(self, digested_through: int) -> Backlog:
        if not self.exists():
            return Backlog()

        def work(conn: sqlite3.Connection) -> Backlog:
            rows, events, size, unsized = conn.execute(_BACKLOG, (digested_through,)).fetchone()
            if unsized:
                size += conn.execute(_UNSIZED, (digested_through,)).fetchone()[0]
            return Backlog(int(rows), int(events), int(size))

        return self._run(digested_through, "read failed", work)  # type: ignore[no-any-return]

    def purge(self, digested_through: int) -> None:
        """Delete digested rows and truncate the WAL (when idle: their bytes do not linger)."""
        if not self.exists():
            return

        def work(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM inbox WHERE id <= ?", (digested_through,))
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()

        self._run(digested_through, "purge failed", work)

    def vacuum(self, digested_through: int) -> None:
        """Purge digested bodies and rewrite the file, so that their bytes are gone (erasure)."""
        if not self.exists() or self.path == ":memory:":
            return

        def work(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM inbox WHERE id <= ?", (digested_through,))
            conn.execute("VACUUM")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()

        self._run(digested_through, "VACUUM failed", work)

    def _drop(self) -> None:
        if self._conn is not None:
            with suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None
        with self._lock:
            self._drop()


class _Checkpointer:
    """A thread that checkpoints the inbox's WAL each time `CHECKPOINT_BYTES` were written."""

    def __init__(self, path: str, lock: threading.Lock) -> None:
        self.path = path
        self._lock = lock
        self._written = 0
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="caliper-stream-inbox-checkpoint", daemon=True)
        self._thread.start()

    def wrote(self, size: int) -> None:
        self._written += size
        if self._written >= CHECKPOINT_BYTES:
            self._written = 0
            self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._stopping:
                return
            with suppress(sqlite3.Error):  # not fatal: the next wake retries, the backstop bounds the WAL
                self.checkpoint()

    def checkpoint(self) -> None:
        """The bulk of the copy and its sync while puts go on (PASSIVE), then the rest between
        two puts (RESTART: under the inbox's lock, so it does not wait behind a busy writer
        for ever), after which the next put starts the WAL over. A connection per checkpoint:
        nothing is held open on a file that may be replaced meanwhile."""
        conn = sqlite3.connect(self.path, timeout=RESTART_WAIT, isolation_level=None)
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            with self._lock:
                conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
        finally:
            conn.close()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        self._thread.join()
