"""The durable outbox: every event sits in a SQLite file until an endpoint has acknowledged it.

Why SQLite in WAL mode: `add` commits before `Sensor.send` returns, so an event survives a
crash of the sending process and any outage of the endpoint; WAL with ``synchronous=NORMAL``
makes that commit cheap (no fsync per event; durable against a process crash, and against a
power loss up to the last checkpoint). Rows are deleted only when a 2xx acknowledged them; a
definitive refusal turns them into ``failed`` rows that keep the response status and body
until an operator retries or purges them (``caliper-stream outbox …``). Nothing is dropped
silently.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

import msgspec

from caliper_stream.errors import OutboxError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    body BLOB NOT NULL,             -- the event's JSON, exactly as it will be sent
    nightly INTEGER NOT NULL,       -- held for the nightly bulk
    created REAL NOT NULL,          -- when send() stored it (sensor clock, epoch seconds)
    due REAL NOT NULL,              -- not before: created, or the nightly run
    next_try REAL NOT NULL,         -- not before: the retry backoff
    attempts INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'pending',   -- pending | failed
    status INTEGER,                 -- last HTTP status (none for network errors)
    reason TEXT                     -- last error: response body or exception text
);
CREATE INDEX IF NOT EXISTS outbox_ready ON outbox (state, id);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


class Row(msgspec.Struct, frozen=True):
    """One stored event, as the flow needs it."""

    id: int
    body: bytes
    nightly: bool
    created: float
    due: float
    attempts: int


class Failed(msgspec.Struct, frozen=True):
    """A refused event with the reason the endpoint gave."""

    id: int
    created: float
    attempts: int
    status: int | None
    reason: str | None
    body: bytes


class Counts(msgspec.Struct, frozen=True):
    """The outbox in numbers: ``sent`` and ``retries`` are totals since the file was created."""

    pending: int = 0
    held: int = 0
    failed: int = 0
    sent: int = 0
    retries: int = 0


class Outbox:
    """A SQLite outbox file (``":memory:"`` for tests). Thread-safe: one lock per outbox."""

    def __init__(self, path: str | Path = ":memory:") -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        self._lock = threading.RLock()
        try:
            with self._lock:
                tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                if tables and "outbox" not in tables:
                    # another SQLite file (an event store given by mistake): never add tables to it
                    raise OutboxError(f"{self.path} is a SQLite database but not an outbox (it has no outbox table)")
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
                self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise OutboxError(f"cannot open the outbox {self.path}: {exc}") from None
        except OutboxError:
            self._db.close()
            raise

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _tx(self, statements: Iterable[tuple[str, Sequence[object]]]) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for sql, params in statements:
                    self._db.execute(sql, params)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _bump(self, name: str, n: int) -> tuple[str, Sequence[object]]:
        return (
            "INSERT INTO counters (name, value) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
            (name, n),
        )

    # -- the flow's side ---------------------------------------------------------------------

    def add(self, rows: Sequence[tuple[bytes, bool, float, float]]) -> None:
        """Store ``(body, nightly, created, due)`` rows in one committed transaction."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT INTO outbox (body, nightly, created, due, next_try) VALUES (?, ?, ?, ?, 0)",
                    [(body, int(nightly), created, due) for body, nightly, created, due in rows],
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def ready(self, now: float, limit: int) -> list[Row]:
        """The oldest pending events that may be sent at ``now``."""
        with self._lock:
            cur = self._db.execute(
                "SELECT id, body, nightly, created, due, attempts FROM outbox "
                "WHERE state = 'pending' AND due <= ? AND next_try <= ? ORDER BY id LIMIT ?",
                (now, now, limit),
            )
            return [Row(i, bytes(b), bool(n), c, d, a) for i, b, n, c, d, a in cur]

    def next_wake(self) -> float | None:
        """When the earliest pending event becomes sendable (None: nothing pending)."""
        with self._lock:
            (value,) = self._db.execute(
                "SELECT MIN(MAX(due, next_try)) FROM outbox WHERE state = 'pending'"
            ).fetchone()
        return float(value) if value is not None else None

    def attempts(self, ids: Sequence[int]) -> int:
        """The most attempts any of these events has had."""
        with self._lock:
            marks = ",".join("?" * len(ids))
            (value,) = self._db.execute(f"SELECT MAX(attempts) FROM outbox WHERE id IN ({marks})", list(ids)).fetchone()
        return int(value or 0)

    def delivered(self, ids: Sequence[int]) -> None:
        self._tx([*_in("DELETE FROM outbox WHERE id IN ({})", (), ids), self._bump("sent", len(ids))])

    def retry_later(self, ids: Sequence[int], next_try: float, status: int | None, reason: str) -> None:
        sql = "UPDATE outbox SET attempts = attempts + 1, next_try = ?, status = ?, reason = ? WHERE id IN ({})"
        self._tx([*_in(sql, (next_try, status, reason), ids), self._bump("retries", 1)])

    def fail(self, ids: Sequence[int], status: int | None, reason: str) -> None:
        sql = "UPDATE outbox SET state = 'failed', attempts = attempts + 1, status = ?, reason = ? WHERE id IN ({})"
        self._tx(_in(sql, (status, reason), ids))

    # -- the operator's side -----------------------------------------------------------------

    def counts(self, now: float | None = None) -> Counts:
        with self._lock:
            pending = failed = held = 0
            for state, n in self._db.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state"):
                if state == "pending":
                    pending = n
                elif state == "failed":
                    failed = n
            if now is not None:
                (held,) = self._db.execute(
                    "SELECT COUNT(*) FROM outbox WHERE state = 'pending' AND nightly = 1 AND due > ?", (now,)
                ).fetchone()
            counters = dict(self._db.execute("SELECT name, value FROM counters").fetchall())
        return Counts(pending, held, failed, counters.get("sent", 0), counters.get("retries", 0))

    def failed(self, limit: int = 100) -> list[Failed]:
        with self._lock:
            cur = self._db.execute(
                "SELECT id, created, attempts, status, reason, body FROM outbox "
                "WHERE state = 'failed' ORDER BY id LIMIT ?",
                (limit,),
            )
            return [Failed(i, c, a, s, r, bytes(b)) for i, c, a, s, r, b in cur]

    def retry_failed(self) -> int:
        """Make every failed event pending again (after fixing the key or the endpoint)."""
        with self._lock:
            cur = self._db.execute(
                "UPDATE outbox SET state = 'pending', next_try = 0, attempts = 0 WHERE state = 'failed'"
            )
            return cur.rowcount

    def release_held(self, now: float) -> int:
        """Make events held for the nightly run due at `now` (an operator sending them early)."""
        with self._lock:
            return self._db.execute(
                "UPDATE outbox SET due = ? WHERE state = 'pending' AND due > ?", (now, now)
            ).rowcount

    def purge(self, everything: bool = False) -> int:
        """Delete failed events (``everything``: pending ones too). Returns how many."""
        with self._lock:
            sql = "DELETE FROM outbox" + ("" if everything else " WHERE state = 'failed'")
            return self._db.execute(sql).rowcount


def _in(sql: str, head: tuple[object, ...], ids: Sequence[int], chunk: int = 500) -> list[tuple[str, Sequence[object]]]:
    """``sql`` with ``IN ({})`` expanded, once per chunk of ids (SQLite limits parameters)."""
    out: list[tuple[str, Sequence[object]]] = []
    for i in range(0, len(ids), chunk):
        part = list(ids[i : i + chunk])
        out.append((sql.format(",".join("?" * len(part))), [*head, *part]))
    return out
