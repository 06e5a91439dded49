"""PostgreSQL through psycopg 3, for shared and high-volume deployments.

Writes: each transaction COPYs the batch (binary) into a session-local temporary staging table
and moves it with one statement that claims the keys in ``event_keys`` (``INSERT … ON CONFLICT
DO NOTHING RETURNING event_key``, which tells exactly which events were new) and inserts only
those rows into ``events`` (partitioned by month, see `caliper_stream.store.partitions`; the
months a batch needs are created first). Measured against ``executemany`` in
pipeline mode (``benchmarks/store_bench.py``): 10–20 % faster at the 1000–2000-row
transactions of bulk import and group commit, on par for small ones (``method="executemany"``
keeps the alternative available). Raw bytes are
``bytea`` so that anything Learn sends (raw control characters, even NUL) round-trips exactly.
A commit returns after PostgreSQL's own durable commit: the write connection runs with
``synchronous_commit`` as configured, except ``off``, which it turns ``on`` (an answer of 2xx
means the bytes are on disk; ``off`` could lose the last acknowledged commits in a crash).

Connections: one write connection (under a lock, re-opened after a failure), one read
connection per thread for `query`, and a fresh connection with a server-side cursor for each
`stream`, so an export never blocks ingest or holds more than one fetch in memory.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import count
from typing import Any, Literal

import psycopg
import psycopg.sql

from caliper_stream.errors import StoreError, StoreUnavailable
from caliper_stream.ingest import Batch, Row
from caliper_stream.store import partitions
from caliper_stream.store.base import INBOX_COLUMNS, Backlog, Claim, Inboxed, Packed, WriteResult
from caliper_stream.store.common import EVENT_COLUMNS, SQLStore, attribute, translate
from caliper_stream.store.partitions import DEFAULT, LOCK, month_of, months, table_of

Method = Literal["copy", "executemany"]

_INBOX_INSERT = f"INSERT INTO inbox ({', '.join(INBOX_COLUMNS)}, bytes) VALUES (%s, %s, %s, %s, %s, %s, %s)"
#: Every column it reads is in the index ``inbox_backlog`` (id) INCLUDE (events, bytes): an
#: index-only scan, which reads a few bytes per row instead of the heap's pages.
_INBOX_BACKLOG = (
    "SELECT count(*), coalesce(sum(events), 0), coalesce(sum(bytes), 0), count(*) - count(bytes) FROM inbox"
)
_INBOX_UNSIZED = "SELECT coalesce(sum(length(body)), 0) FROM inbox WHERE bytes IS NULL"
#: What `Claim.take` weighs: each body's events and bytes (rows of the earlier schema: its length).
_INBOX_SIZES = "SELECT events, coalesce(bytes, length(body)) FROM inbox ORDER BY id LIMIT %s"

_STAGE = "caliper_stream_stage"
_FLOATS = {"score", "max_score"}
_TYPES = [
    "bytea" if c == "raw" else "int4" if c == "raw_codec" or c.endswith("_prefix") else "float8" if c in _FLOATS
    else "text"
    for c in EVENT_COLUMNS
]
_COLS = ", ".join(EVENT_COLUMNS)
_STAGE_DDL = (
    f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} ("
    + ", ".join(f"{c} {t}" for c, t in zip(EVENT_COLUMNS, _TYPES, strict=True))
    + ") ON COMMIT DELETE ROWS"
)
# which rows were new, and whether each landed in the default partition (see _insert_events)
_RETURNING = "event_key, event_time, tableoid = 'events_default'::regclass"
# the keys claimed first: a key already stored (or claimed by a concurrent transaction, which
# this one then waits for) is not inserted. Claiming in key order means two writers of the same
# keys (replicas receiving one retried request) wait on each other in one order, never in a
# deadlock. ctid keeps the batch's order for the events, so ids follow it.
_MOVE = (
    f"WITH fresh AS (INSERT INTO event_keys (event_key) SELECT event_key FROM {_STAGE}"
    ' ORDER BY event_key COLLATE "C" ON CONFLICT DO NOTHING RETURNING event_key)'
    f" INSERT INTO events ({_COLS}) SELECT {_COLS} FROM {_STAGE}"
    f" WHERE event_key IN (SELECT event_key FROM fresh) ORDER BY ctid RETURNING {_RETURNING}"
)
_INSERT = (
    "WITH fresh AS (INSERT INTO event_keys (event_key) VALUES (%s) ON CONFLICT DO NOTHING RETURNING event_key)"
    f" INSERT INTO events ({_COLS}) SELECT {', '.join(['%s'] * len(EVENT_COLUMNS))} FROM fresh RETURNING {_RETURNING}"
)
_ITERSIZE = 500
_cursor_names = count()


def _durable_commits(conn: psycopg.Connection[tuple[Any, ...]]) -> None:
    """Turn ``synchronous_commit`` on for this session when the server, database, role or URL
    turned it off; any stricter setting (``remote_apply``, …) and ``local`` stay as they are."""
    row = conn.execute("SHOW synchronous_commit").fetchone()
    if row is not None and row[0] == "off":
        conn.execute("SET synchronous_commit = on")


def _error(exc: psycopg.Error, what: str) -> StoreError:
    # a value the database cannot hold (class 22, or 54 such as an over-long index entry) is
    # the data's fault: retrying cannot help, isolating it can (see store/writer.py)
    if isinstance(exc, psycopg.errors.DataError | psycopg.errors.ProgramLimitExceeded):
        return StoreError(f"PostgreSQL {what}: {str(exc).strip()}")
    if isinstance(exc, psycopg.errors.InvalidSchemaName) or "no schema has been selected" in str(exc):
        return StoreUnavailable(
            f"PostgreSQL {what}: the schema named in the URL's search_path does not exist; create it"
            " (CREATE SCHEMA name) or fix the URL's options=-c search_path=…"
        )
    if isinstance(exc, psycopg.errors.ReadOnlySqlTransaction):
        return StoreUnavailable(f"PostgreSQL {what}: the database is read-only ({str(exc).strip()})")
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        return StoreUnavailable(f"PostgreSQL {what}: {str(exc).strip()}")
    return StoreError(f"PostgreSQL {what}: {str(exc).strip()}")


# `reindex`: one run per store (schema) at a time; held by the session, so a crash releases it
_REINDEX_LOCK = "SELECT pg_try_advisory_lock(hashtext('caliper_stream.reindex.' || current_schema()))"
# the bytes of one table's indexes (NULL when the table does not exist)
_INDEX_BYTES = (
    "SELECT (SELECT coalesce(sum(pg_relation_size(x.indexrelid)), 0) FROM pg_index x WHERE x.indrelid = t.oid)"
    " FROM (SELECT to_regclass(%s) AS oid) t WHERE t.oid IS NOT NULL"
)
# the invalid index copies an interrupted REINDEX CONCURRENTLY leaves on a partition
_LEFTOVER_COPIES = (
    "SELECT n.nspname, ci.relname FROM pg_index x"
    " JOIN pg_class ci ON ci.oid = x.indexrelid JOIN pg_namespace n ON n.oid = ci.relnamespace"
    " JOIN pg_inherits i ON i.inhrelid = x.indrelid"
    " WHERE i.inhparent = to_regclass('events') AND NOT x.indisvalid AND ci.relname ~ '_cc(new|old)[0-9]*$'"
)


class PostgresStore(SQLStore):
    """A store in a PostgreSQL database (tables in the connection's ``search_path``)."""

    dialect = "postgresql"

    def __init__(
        self,
        url: str,
        *,
        connect_timeout: int = 5,
        method: Method = "copy",
        migrate: bool = True,
        compression: bool = True,
    ) -> None:
        super().__init__(url, compression=compression)
        self.connect_timeout = connect_timeout
        self.method = method
        self._conn: psycopg.Connection[tuple[Any, ...]] | None = None
        self._local = threading.local()
        self._readers: list[psycopg.Connection[tuple[Any, ...]]] = []
        self._readers_lock = threading.Lock()
        self._months: set[str] = set()  # month partitions known to exist
        with self._write_lock:
            self._writer()
        if migrate:
            self.migrate()
            self._months = set(self.transact(months))

    def _connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        try:
            return psycopg.connect(self.url, autocommit=True, connect_timeout=self.connect_timeout)
        except psycopg.Error as exc:
            raise _error(exc, "cannot connect") from exc

    def _writer(self) -> psycopg.Connection[tuple[Any, ...]]:
        conn = self._conn
        if conn is None or conn.closed or conn.broken:
            conn = self._connect()
            try:
                conn.execute(_STAGE_DDL)
                _durable_commits(conn)
            except psycopg.Error as exc:
                conn.close()
                raise _error(exc, "cannot prepare the write connection") from exc
            self._conn = conn
        return conn

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Cursor[tuple[Any, ...]]]:
        conn = self._writer()
        try:
            with conn.transaction(), conn.cursor() as cur:
                yield cur
        except psycopg.Error as exc:
            if conn.broken or conn.closed:
                self._conn = None
            raise _error(exc, "write failed") from exc

    def _lock_migrations(self, cur: Any) -> None:
        cur.execute("SELECT pg_advisory_xact_lock(hashtext('caliper_stream.migrate'))")

    def _ensure_months(self, times: Iterable[str | None]) -> None:
        """Create the month partitions these rows need and that are not known to exist, in a
        short transaction of their own before the write touches ``events``, so that writers
        (several replicas) creating months never wait on each other's inserts while holding the
        lock."""
        needed = {month_of(t) for t in times} - self._months - {None}
        if not needed:
            return
        conn = self._connect()
        try:
            with conn.transaction():
                conn.execute(LOCK)
                for month in sorted(m for m in needed if m is not None):
                    conn.execute("SELECT events_month_partition(%s)", (month,))
        except psycopg.Error as exc:
            raise _error(exc, "cannot create a month partition") from exc
        finally:
            conn.close()
        self._months |= {m for m in needed if m is not None}

    def _events_written(self, cur: Any, rows: list[Row]) -> set[str]:
        # Months first, before this transaction reads anything of ``events`` (the codec does):
        # creating a month takes a lock on ``events_default`` that this transaction's own read
        # locks would block, from another connection, for ever.
        self._ensure_months(r.keydata.event_time for r in rows)
        return super()._events_written(cur, rows)

    def _insert_events(self, cur: Any, rows: list[Row], values: list[tuple[Any, ...]]) -> set[str]:
        if self.method == "executemany":
            cur.executemany(_INSERT, [(v[0], *v) for v in values], returning=True)
            returned: list[tuple[Any, ...]] = []
            while True:
                returned.extend(cur.fetchall())
                if not cur.nextset():
                    break
        else:
            with cur.copy(f"COPY {_STAGE} ({_COLS}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(_TYPES)
                for v in values:
                    copy.write_row(v)
            cur.execute(_MOVE)
            returned = cur.fetchall()
        # A month row in the default partition means that month's partition was dropped (by
        # retention, maybe in another process) after it was cached: the row is stored all the
        # same; forgetting the month has the next write of it re-create the partition, which
        # takes such rows along (events_month_partition).
        self._months -= {month_of(t) for _, t, default in returned if default} - {None}
        return {k for k, _, _ in returned}

    # --- inbox: a table, claimed with SKIP LOCKED so that replicas share the digest ----------

    def inbox_put(self, bodies: Sequence[Inboxed]) -> None:
        if not bodies:
            return
        with self._write_lock, self._transaction() as cur:
            cur.executemany(
                _INBOX_INSERT,
                [(b.body, b.source, b.received_at, b.content_type, b.events, int(b.protected), len(b.body))
                 for b in bodies],
            )

    def digest_inbox(self, claim: Claim, work: Callable[[list[Inboxed]], list[Batch]]) -> list[WriteResult]:
        """Claim, store and delete in ONE transaction: a replica killed mid-digest releases its
        rows' locks with its connection, and another replica digests them. How many rows fit
        the claim is weighed on the oldest ones, locked or not: while replicas share the inbox,
        the rows then taken are the next unlocked ones, of about the same weight."""
        with self._writing() as cur:
            cur.execute(_INBOX_SIZES, (claim.events,))
            count = claim.take(cur.fetchall())
            cur.execute(
                f"SELECT id, {', '.join(INBOX_COLUMNS)} FROM inbox ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED", (count,)
            )
            claimed = [
                Inboxed(bytes(r[1]), r[2], r[3], r[4], int(r[5]), bool(r[6]), id=int(r[0])) for r in cur.fetchall()
            ]
            if not claimed:
                return []
            batches = work(claimed)
            inserted = self._store_digest(cur, batches)
            cur.execute("DELETE FROM inbox WHERE id = ANY(%s)", ([b.id for b in claimed],))
        return attribute(batches, inserted)

    def inbox_delete(self, ids: Sequence[int]) -> None:
        if ids:
            with self._write_lock, self._transaction() as cur:
                cur.execute("DELETE FROM inbox WHERE id = ANY(%s)", (list(ids),))

    def inbox_backlog(self) -> Backlog:
        """Counted from the index ``inbox_backlog`` (migration 0013), not the heap; rows a server
        of the previous version inserted (``bytes`` NULL) are sized from their bodies."""
        rows = self.query(_INBOX_BACKLOG)
        if not rows:
            return Backlog()
        count, events, size, unsized = (int(v) for v in rows[0])
        if unsized:
            size += int(self.query(_INBOX_UNSIZED)[0][0])
        return Backlog(count, events, size)

    def probe_write(self) -> None:
        with self._write_lock:
            try:
                conn = self._writer()
                row = conn.execute("SHOW transaction_read_only").fetchone()
            except psycopg.Error as exc:
                self._conn = None
                raise _error(exc, "cannot write") from exc
            if row is not None and row[0] == "on":
                raise StoreUnavailable("PostgreSQL: the database is read-only (transaction_read_only is on)")

    def _reader(self) -> psycopg.Connection[tuple[Any, ...]]:
        conn: psycopg.Connection[tuple[Any, ...]] | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.broken:
            conn = self._connect()
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[tuple[Any, ...]]:
        try:
            with self._reader().cursor() as cur:
                cur.execute(translate(sql, self.dialect), params or None)
                return cur.fetchall() if cur.description else []
        except psycopg.Error as exc:
            raise _error(exc, "query failed") from exc

    def stream(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Iterator[tuple[Any, ...]]:
        conn = self._connect()
        try:
            with conn.transaction(), conn.cursor(name=f"caliper_stream_{next(_cursor_names)}") as cur:
                cur.itersize = _ITERSIZE
                cur.execute(translate(sql, self.dialect), params or None)
                yield from cur
        except psycopg.Error as exc:
            raise _error(exc, "query failed") from exc
        finally:
            conn.close()

    def analyze(self, tables: Sequence[str]) -> None:
        self._each_table("ANALYZE", tables)

    def vacuum(self, tables: Sequence[str]) -> list[str]:
        """VACUUM FULL writes each table (and its TOAST) into new files and unlinks the old ones,
        so deleted tuples leave the relation files; it locks each table while it runs."""
        self._each_table("VACUUM FULL", tables)
        return []

    def reindex(self, tables: Sequence[str], months: Sequence[str] = ()) -> list[Packed]:
        """REINDEX TABLE CONCURRENTLY, a table (for events: a month partition) at a time: a new
        copy of each index is built beside the old one and swapped in, with locks that let
        inserts and queries go on (they wait only at the swap). Invalid copies an interrupted
        run left on the events are dropped first; an advisory lock keeps two runs on one store
        apart, since each would take the other's copies for leftovers."""
        named = {table_of(m): m for m in months}
        conn = self._connect()
        try:
            if not conn.execute(_REINDEX_LOCK).fetchone()[0]:  # type: ignore[index]
                raise StoreError("PostgreSQL reindex: another reindex of this store is running")
            for schema, name in conn.execute(_LEFTOVER_COPIES).fetchall():
                conn.execute(psycopg.sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}.{}").format(
                    psycopg.sql.Identifier(schema), psycopg.sql.Identifier(name)))
            each: list[str] = []
            for table in tables:
                if table == "events":
                    each += list(named) or [*map(table_of, self.transact(partitions.months)), DEFAULT]
                else:
                    each.append(table)
            packed = []
            for table in each:
                before = conn.execute(_INDEX_BYTES, (table,)).fetchone()
                if before is None:
                    if table in named:
                        raise StoreError(f"PostgreSQL reindex: events have no partition for {named[table]}")
                    continue  # a partition retention dropped since it was listed
                try:
                    conn.execute(psycopg.sql.SQL("REINDEX TABLE CONCURRENTLY {}").format(psycopg.sql.Identifier(table)))
                except psycopg.errors.UndefinedTable:
                    continue
                after = conn.execute(_INDEX_BYTES, (table,)).fetchone()
                packed.append(Packed(table, int(before[0]), int(after[0]) if after else 0))
            return packed
        except psycopg.Error as exc:
            raise _error(exc, "reindex failed") from exc
        finally:
            conn.close()

    def _each_table(self, command: str, tables: Sequence[str]) -> None:
        """`command` on each of `tables`, outside a transaction (VACUUM cannot run in one)."""
        conn = self._connect()
        try:
            for table in tables:
                conn.execute(f"{command} {psycopg.sql.Identifier(table).as_string(conn)}")
        except psycopg.Error as exc:
            raise _error(exc, f"{command} failed") from exc
        finally:
            conn.close()

    def close(self) -> None:
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
        with self._write_lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
