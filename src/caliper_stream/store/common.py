"""What both SQL backends share: placeholders, dedupe bookkeeping, keys, dead letters, stats.

Backends differ only in how they connect and in the bulk insert of events (`_insert_events`);
everything else is written once here in ``?``-placeholder SQL that both dialects accept after
`translate`.
"""

from __future__ import annotations

import hashlib
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, TypeVar

import msgspec
from msgspec.structs import astuple

from caliper_stream.errors import StoreError
from caliper_stream.ingest import Batch, DeadLetter, Row, now
from caliper_stream.keydata import FIELDS
from caliper_stream.problems import Problem
from caliper_stream.store.base import (
    ROLES,
    ApiKey,
    Backlog,
    Claim,
    Count,
    CourseName,
    DashboardSession,
    Inboxed,
    ItemName,
    Newest,
    Packed,
    Stats,
    StoredDeadLetter,
    UserName,
    WriteResult,
)
from caliper_stream.store.codec import Codec
from caliper_stream.store.keys import stored_key
from caliper_stream.store.migrations import SCHEMA_MIGRATIONS_DDL, migrations
from caliper_stream.store.prefixes import COLUMNS as IRI_COLUMNS
from caliper_stream.store.prefixes import Prefixes, Splitters
from caliper_stream.store.times import bound, day_sql, time_key, time_text

#: An event row's values with every IRI whole, as ``event_view`` shows them (and ``events``
#: was before migration 0015). ``raw_codec`` says how ``raw`` is stored (NULL: the bytes
#: themselves; else the id of the zstd dictionary, store/codec.py).
ROW_COLUMNS: tuple[str, ...] = ("event_key", "raw_codec", "raw", *FIELDS[1:], "source", "received_at")
#: Columns of ``events`` in insert order (the id is generated): `ROW_COLUMNS` with each of
#: `prefixes.COLUMNS` as its prefix id and suffix (store/prefixes.py).
EVENT_COLUMNS: tuple[str, ...] = tuple(
    part for c in ROW_COLUMNS for part in ((f"{c}_prefix", f"{c}_suffix") if c in IRI_COLUMNS else (c,))
)
_SENSOR, _SITE, _ACTOR, _OBJECT, _SESSION = (ROW_COLUMNS.index(c) for c in IRI_COLUMNS)
# the same columns' positions in a `KeyData` tuple (FIELDS order)
_K_SENSOR, _, _, _K_OBJECT, _K_SESSION = (FIELDS.index(c) for c in IRI_COLUMNS)
assert (_SITE, _ACTOR) == (_SENSOR + 1, _SENSOR + 2)
assert _ACTOR < _OBJECT < _SESSION
#: the times (store/times.py: SQLite stores them as integers)
TIME_COLUMNS = ("event_time", "send_time", "started_at", "ended_at", "received_at")
_TIME_POSITIONS = tuple(ROW_COLUMNS.index(c) for c in TIME_COLUMNS)
_K_TIME, _K_STARTED = FIELDS.index("event_time"), FIELDS.index("started_at")
assert FIELDS[_K_TIME : _K_TIME + 3] == ("event_time", "send_time", "sensor")
assert FIELDS[_K_SESSION : _K_SESSION + 3] == ("session_id", "started_at", "ended_at")
DEAD_LETTER_COLUMNS: tuple[str, ...] = ("raw", "digest", "reasons", "source", "received_at")

_encode_reasons = msgspec.json.Encoder().encode
_decode_reasons = msgspec.json.Decoder(list[Problem]).decode

T = TypeVar("T")

_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|\?|(?<!:):([A-Za-z_][A-Za-z0-9_]*)|%")


def translate(sql: str, dialect: str) -> str:
    """``?`` and ``:name`` placeholders → psycopg's ``%s`` / ``%(name)s`` (``%`` escaped)."""
    if dialect == "sqlite":
        return sql

    def sub(m: re.Match[str]) -> str:
        tok = m.group()
        if tok == "?":
            return "%s"
        if tok == "%":
            return "%%"
        if m.group(1):
            return f"%({m.group(1)})s"
        return tok.replace("%", "%%")  # a quoted literal: psycopg still reads % in it

    return _TOKENS.sub(sub, sql)


#: Indexed key-data columns hold at most this many characters: a longer value is stored as its
#: first `INDEXED_CHARS` characters and "…" (the whole value stays in ``raw``). PostgreSQL's
#: B-tree entries are limited to 2,704 bytes; two such columns of 4-byte characters plus a time
#: stay under it, so any event is storable (migration 0003 bounds rows stored before).
INDEXED_CHARS = 256
INDEXED_COLUMNS = frozenset({"type", "action", "course_number", "user_uuid", "source"})
#: What a NUL character in key data becomes: PostgreSQL text cannot hold U+0000, so both
#: backends store U+FFFD instead (the exact bytes stay in ``raw``).
NUL_REPLACEMENT = "\ufffd"
#: PostgreSQL: gradebook rows written at once after which ``gb_cells`` is analysed again.
_ANALYZE_AFTER = 1000
_INDEXED_POSITIONS = tuple(i for i, c in enumerate(ROW_COLUMNS) if c in INDEXED_COLUMNS)
_K_TYPE, _K_ACTION, _K_COURSE, _K_USER = (FIELDS.index(c) for c in ("type", "action", "course_number", "user_uuid"))
assert {"type", "action", "course_number", "user_uuid", "source"} == INDEXED_COLUMNS  # as _needs_fixing checks
_TEXT_POSITIONS = tuple(i for i, c in enumerate(ROW_COLUMNS) if c not in ("raw_codec", "raw", "score", "max_score"))


def bounded(value: str) -> str:
    """An indexed column's value: itself, or its first `INDEXED_CHARS` characters and "…"."""
    return value if len(value) <= INDEXED_CHARS else value[:INDEXED_CHARS] + "…"


def event_values(
    rows: Sequence[Row],
    encode: Callable[[bytes], tuple[int | None, bytes]],
    parts: Splitters,
    time: Callable[[str | None], Any],
    key: Callable[[str], Any],
) -> list[tuple[Any, ...]]:
    """Rows as the values of `EVENT_COLUMNS`: `row_values` with each IRI as the id of its prefix
    and its suffix (`Prefixes.splitters`: memos of the values split in this transaction, and
    what splits a new one for ``sensor`` and ``site``, and for the others), each time as `time`
    stores it (store/times.py) and the event key as `key` does (store/keys.py). Built in one
    tuple when no value needs fixing (nearly every row: this runs for every event stored)."""
    whole_memo, split_memo, whole, split = parts
    seen_whole, seen_split = whole_memo.get, split_memo.get
    # one receive time for all the rows of a request (a memo of the other times measured no
    # faster: most are distinct, and the lookups cost what the conversions save)
    received, stored_received = None, None
    out = []
    for row in rows:
        raw = row.raw
        k = astuple(row.keydata)
        if row.received_at is not received:
            received, stored_received = row.received_at, time(row.received_at)
        if _needs_fixing(raw, k, row.source):
            v = list(row_values(row, encode))
            v[0] = key(v[0])
            for i in _TIME_POSITIONS:
                v[i] = time(v[i])
            out.append((
                *v[:_SENSOR], *whole(v[_SENSOR]), *whole(v[_SITE]), *split(v[_ACTOR]), *v[_ACTOR + 1 : _OBJECT],
                *split(v[_OBJECT]), *v[_OBJECT + 1 : _SESSION], *split(v[_SESSION]), *v[_SESSION + 1 :],
            ))
            continue
        sensor, site, actor, obj, session = k[_K_SENSOR], k[_K_SENSOR + 1], k[_K_SENSOR + 2], k[_K_OBJECT], k[_K_SESSION]
        out.append((
            key(row.event_key), *encode(raw), *k[1:_K_TIME], time(k[_K_TIME]), time(k[_K_TIME + 1]),
            *(seen_whole(sensor) or whole(sensor)), *(seen_whole(site) or whole(site)),
            *(seen_split(actor) or split(actor)), *k[_K_SENSOR + 3 : _K_OBJECT], *(seen_split(obj) or split(obj)),
            *k[_K_OBJECT + 1 : _K_SESSION], *(seen_split(session) or split(session)), time(k[_K_STARTED]),
            time(k[_K_STARTED + 1]), *k[_K_STARTED + 2 :], row.source, stored_received,
        ))
    return out


def _needs_fixing(raw: bytes, keydata: tuple[Any, ...], source: str | None) -> bool:
    """Whether a value holds a NUL or an indexed value is too long (`row_values` fixes both).
    One-byte searches are memchr: the six-byte one (~2 µs for a 4 KB event) runs only when the
    event has an escape at all."""
    if b"\x00" in raw or (b"\\" in raw and b"\\u0000" in raw):
        return True
    n = INDEXED_CHARS
    type_, action, course, user = keydata[_K_TYPE], keydata[_K_ACTION], keydata[_K_COURSE], keydata[_K_USER]
    return bool(
        (type_ and len(type_) > n) or (action and len(action) > n) or (course and len(course) > n)
        or (user and len(user) > n) or (source and len(source) > n)
    )


def row_values(row: Row, encode: Callable[[bytes], tuple[int | None, bytes]]) -> tuple[Any, ...]:
    """A row as the values of `ROW_COLUMNS`, storable on every backend: raw bytes `encode`d,
    NUL replaced and indexed values bounded."""
    k = astuple(row.keydata)
    values = (row.event_key, *encode(row.raw), *k[1:], row.source, row.received_at)
    if not _needs_fixing(row.raw, k, row.source):
        return values
    out = list(values)
    raw = row.raw
    if b"\x00" in raw or (b"\\" in raw and b"\\u0000" in raw):
        for i in _TEXT_POSITIONS:
            v = out[i]
            if isinstance(v, str) and "\x00" in v:
                out[i] = v.replace("\x00", NUL_REPLACEMENT)
    for i in _INDEXED_POSITIONS:
        v = out[i]
        if isinstance(v, str):
            out[i] = bounded(v)
    return tuple(out)


def _as_is(value: T) -> T:
    return value


def dead_letter_digest(dl: DeadLetter) -> str:
    """What makes two dead letters the same: their source and their exact bytes."""
    h = hashlib.blake2b(digest_size=16)
    h.update((dl.source or "").encode())
    h.update(b"\0")
    h.update(dl.raw)
    return h.hexdigest()


def dead_letter_values(dl: DeadLetter) -> tuple[Any, ...]:
    return (dl.raw, dead_letter_digest(dl), _encode_reasons(dl.reasons).decode(), dl.source, dl.received_at)


def unique_rows(batches: Sequence[Sequence[Row]]) -> list[Row]:
    """The rows of all batches with each event_key once (its first occurrence)."""
    seen: set[str] = set()
    out: list[Row] = []
    for rows in batches:
        for row in rows:
            if row.event_key not in seen:
                seen.add(row.event_key)
                out.append(row)
    return out


def attribute(batches: Sequence[Batch], inserted: set[str]) -> list[WriteResult]:
    """Per-batch results: a key inserted by this transaction is accepted for the first batch
    (and first row) that carried it; every other occurrence is a duplicate."""
    claimed: set[str] = set()
    results = []
    for batch in batches:
        accepted = 0
        for row in batch.rows:
            if row.event_key in inserted and row.event_key not in claimed:
                claimed.add(row.event_key)
                accepted += 1
        results.append(WriteResult(accepted, len(batch.rows) - accepted, len(batch.dead_letters)))
    return results


class Tx:
    """A write transaction as maintenance code sees it: ``?`` SQL in either dialect, and the
    store's `Codec` (`encode_raw` gives the ``raw_codec, raw`` values of bytes to store)."""

    def __init__(self, cur: Any, dialect: str, codec: Codec, prefixes: Prefixes) -> None:
        self.cur = cur
        self.dialect = dialect
        self.codec = codec
        self.prefixes = prefixes
        #: how this dialect stores a time (store/times.py) and an event key (store/keys.py)
        self.stored_time: Callable[[str | None], Any] = time_key if dialect == "sqlite" else _as_is
        self.stored_key: Callable[[str], Any] = stored_key if dialect == "sqlite" else _as_is

    def encode_raw(self, raw: bytes) -> tuple[int | None, bytes]:
        """The ``(raw_codec, raw)`` values that store `raw` (compressed when the store can)."""
        return self.codec.encode(raw)

    def event_values(self, rows: Sequence[Row]) -> list[tuple[Any, ...]]:
        """The values of `EVENT_COLUMNS` that store `rows` (raw encoded, IRIs split)."""
        return event_values(rows, self.codec.encode, self.prefixes.splitters(self), self.stored_time, self.stored_key)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; return the number of rows it changed."""
        self.cur.execute(translate(sql, self.dialect), params)
        return int(self.cur.rowcount or 0)

    def executemany(self, sql: str, params: Sequence[Sequence[Any]]) -> None:
        if params:
            self.cur.executemany(translate(sql, self.dialect), params)

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self.cur.execute(translate(sql, self.dialect), params)
        return list(self.cur.fetchall())


class SQLStore(ABC):
    """The backend-independent half of a store."""

    url: str
    dialect: str

    def __init__(self, url: str, *, compression: bool = True) -> None:
        self.url = url
        self._write_lock = threading.Lock()
        self.codec = Codec(self._fetch_dictionary, enabled=compression)
        self.prefixes = Prefixes()

    # --- what a backend provides -------------------------------------------------------------

    @abstractmethod
    def _transaction(self) -> AbstractContextManager[Any]:
        """A write transaction on the write connection, yielding a cursor; commits durably on
        exit, rolls back and raises StoreUnavailable/StoreError on failure."""

    @abstractmethod
    def _insert_events(self, cur: Any, rows: list[Row], values: list[tuple[Any, ...]]) -> set[str]:
        """Insert rows (unique keys, `values` their `event_values`) skipping existing keys;
        return the keys inserted."""

    @abstractmethod
    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[tuple[Any, ...]]: ...

    @abstractmethod
    def stream(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Iterator[tuple[Any, ...]]: ...

    @abstractmethod
    def close(self) -> None: ...

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        with self._writing() as cur:
            yield cur

    @contextmanager
    def _writing(self) -> Iterator[Any]:
        """The write lock and a transaction, telling the codec whether a dictionary it trained
        in the transaction was committed (else it forgets it and reloads what is stored)."""
        with self._write_lock:
            try:
                with self._transaction() as cur:
                    yield cur
            except BaseException:
                self.codec.end(committed=False)
                self.prefixes.end(committed=False)
                raise
            self.codec.end(committed=True)
            self.prefixes.end(committed=True)

    def _lock_migrations(self, cur: Any) -> None:
        """Serialise concurrent migrators (a no-op where the transaction already does)."""
        del cur

    def _sql(self, sql: str) -> str:
        return translate(sql, self.dialect)

    # --- times (store/times.py) --------------------------------------------------------------

    def time_key(self, value: str) -> Any:
        """What a time column of ``events`` is compared with for `value` (a date or a canonical
        time): SQLite stores times as integers."""
        return bound(self.dialect, value)

    def time_text(self, stored: Any) -> str | None:
        """The text of a value read from a time column of ``events`` itself (``event_view``
        shows the text already)."""
        return time_text(stored) if self.dialect == "sqlite" else stored

    # --- maintenance (privacy, erasure, retention) ---------------------------------------------

    def transact(self, work: Callable[[Tx], T]) -> T:
        """Run `work` in ONE write `transaction`, with ``?`` SQL in either dialect (`Tx`), and
        return its result."""
        with self.transaction() as cur:
            tx = Tx(cur, self.dialect, self.codec, self.prefixes)
            self.codec.prepare(tx)
            return work(tx)

    # --- raw bytes (store/codec.py) ------------------------------------------------------------

    def decode_raw(self, codec: int | None, blob: bytes | memoryview) -> bytes:
        return self.codec.decode(codec, blob)

    def _fetch_dictionary(self, id: int) -> tuple[bytes, float] | None:
        rows = self.query("SELECT dictionary, ratio FROM dictionaries WHERE id = ?", (id,))
        return (bytes(rows[0][0]), float(rows[0][1])) if rows else None

    def _events_written(self, cur: Any, rows: list[Row]) -> set[str]:
        """Insert `rows` with their raw bytes encoded, then let the codec train if it is due."""
        tx = Tx(cur, self.dialect, self.codec, self.prefixes)
        # prefixes first: on PostgreSQL this takes the insert's lock on events before the codec
        # reads which dictionary is current, so neither a purge nor `retrain` can delete what
        # this transaction then names
        self.prefixes.splitters(tx)
        self.codec.prepare(tx)
        self.codec.writing(tx, [r.raw for r in rows])
        inserted = self._insert_events(cur, rows, tx.event_values(rows))
        self.codec.wrote(tx, len(inserted))
        return inserted

    @abstractmethod
    def vacuum(self, tables: Sequence[str]) -> list[str]:
        """Rewrite `tables` so that deleted rows leave no bytes behind; return warnings."""

    # --- migrations --------------------------------------------------------------------------

    def migrate(self) -> list[str]:
        applied: list[str] = []
        with self._write_lock, self._transaction() as cur:
            self._lock_migrations(cur)
            cur.execute(SCHEMA_MIGRATIONS_DDL)
            cur.execute("SELECT version FROM schema_migrations")
            done = {int(r[0]) for r in cur.fetchall()}
            for mig in migrations(self.dialect):
                if mig.version in done:
                    continue
                for statement in mig.statements():
                    cur.execute(statement)
                cur.execute(
                    self._sql("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)"),
                    (mig.version, mig.name, now()),
                )
                applied.append(mig.label)
        return applied

    def schema_version(self) -> int:
        try:
            rows = self.query("SELECT max(version) FROM schema_migrations")
        except StoreError:
            return 0
        return int(rows[0][0] or 0) if rows else 0

    # --- writes ------------------------------------------------------------------------------

    def write(self, rows: Sequence[Row], dead_letters: Sequence[DeadLetter] = ()) -> WriteResult:
        return self.write_batches([Batch(list(rows), list(dead_letters))])[0]

    def write_batches(self, batches: Sequence[Batch]) -> list[WriteResult]:
        rows = unique_rows([b.rows for b in batches])
        letters = [dl for b in batches for dl in b.dead_letters]
        if not rows and not letters:
            return [WriteResult() for _ in batches]
        with self._writing() as cur:
            inserted = self._events_written(cur, rows) if rows else set()
            if letters:
                self._insert_dead_letters(cur, letters)
        return attribute(batches, inserted)

    # --- inbox (each backend keeps it its own way: store/inbox_file.py, store/postgres.py) -----

    @abstractmethod
    def inbox_put(self, bodies: Sequence[Inboxed]) -> None: ...

    @abstractmethod
    def digest_inbox(self, claim: Claim, work: Callable[[list[Inboxed]], list[Batch]]) -> list[WriteResult]: ...

    @abstractmethod
    def inbox_delete(self, ids: Sequence[int]) -> None: ...

    @abstractmethod
    def inbox_backlog(self) -> Backlog: ...

    def _store_digest(self, cur: Any, batches: list[Batch]) -> set[str]:
        """Write the events and dead letters of digested bodies in the transaction `cur`."""
        rows = unique_rows([b.rows for b in batches])
        letters = [dl for b in batches for dl in b.dead_letters]
        inserted = self._events_written(cur, rows) if rows else set()
        if letters:
            self._insert_dead_letters(cur, letters)
        return inserted

    def _insert_dead_letters(self, cur: Any, letters: list[DeadLetter]) -> None:
        cur.executemany(
            self._sql(
                f"INSERT INTO dead_letters ({', '.join(DEAD_LETTER_COLUMNS)}) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (digest) DO NOTHING"
            ),
            [dead_letter_values(dl) for dl in letters],
        )

    # --- dead letters ------------------------------------------------------------------------

    _DL_SELECT = "SELECT id, raw, reasons, source, received_at, replayed_at FROM dead_letters"

    @staticmethod
    def _dead_letter(r: tuple[Any, ...]) -> StoredDeadLetter:
        return StoredDeadLetter(int(r[0]), bytes(r[1]), _decode_reasons(r[2]), r[3], r[4], r[5])

    def list_dead_letters(
        self, limit: int = 100, *, after_id: int = 0, include_replayed: bool = False
    ) -> list[StoredDeadLetter]:
        pending = "" if include_replayed else " AND replayed_at IS NULL"
        rows = self.query(f"{self._DL_SELECT} WHERE id > ?{pending} ORDER BY id LIMIT ?", (after_id, limit))
        return [self._dead_letter(r) for r in rows]

    def get_dead_letter(self, id: int) -> StoredDeadLetter | None:
        rows = self.query(f"{self._DL_SELECT} WHERE id = ?", (id,))
        return self._dead_letter(rows[0]) if rows else None

    def replay_dead_letter(self, id: int, rows: Sequence[Row]) -> WriteResult:
        unique = unique_rows([rows])
        with self._writing() as cur:
            cur.execute(
                self._sql("UPDATE dead_letters SET replayed_at = ? WHERE id = ? AND replayed_at IS NULL"),
                (now(), id),
            )
            if cur.rowcount != 1:
                raise StoreError(f"dead letter {id} does not exist or was already replayed")
            inserted = self._events_written(cur, unique) if unique else set()
        return attribute([Batch(list(rows))], inserted)[0]

    # --- API keys ----------------------------------------------------------------------------

    def add_key(self, name: str, key_hash: str, *, role: str = "write", identity: bool = False) -> None:
        if role not in ROLES:
            raise StoreError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        with self._write_lock, self._transaction() as cur:
            cur.execute(self._sql("SELECT 1 FROM api_keys WHERE name = ? AND revoked_at IS NULL"), (name,))
            if cur.fetchone() is not None:
                raise StoreError(f"an active API key named {name!r} already exists")
            cur.execute(self._sql("SELECT name FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL"), (key_hash,))
            holder = cur.fetchone()
            if holder is not None:  # one key, one source: else its events' source is ambiguous
                raise StoreError(f"this key is already the active key of {holder[0]!r}; revoke it there first, or use another key")
            cur.execute(
                self._sql("INSERT INTO api_keys (name, key_hash, created_at, role, identity) VALUES (?, ?, ?, ?, ?)"),
                (name, key_hash, now(), role, int(identity)),
            )

    _KEY_SELECT = "SELECT name, key_hash, created_at, revoked_at, role, identity FROM api_keys"

    @staticmethod
    def _key(r: tuple[Any, ...]) -> ApiKey:
        return ApiKey(r[0], r[1], r[2], r[3], r[4], bool(r[5]))

    def list_keys(self) -> list[ApiKey]:
        return [self._key(r) for r in self.query(f"{self._KEY_SELECT} ORDER BY id")]

    def active_keys(self) -> list[ApiKey]:
        return [self._key(r) for r in self.query(f"{self._KEY_SELECT} WHERE revoked_at IS NULL ORDER BY id")]

    def revoke_key(self, name: str) -> bool:
        with self._write_lock, self._transaction() as cur:
            cur.execute(
                self._sql("UPDATE api_keys SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL"),
                (now(), name),
            )
            return bool(cur.rowcount)

    def find_key(self, key_hash: str) -> str | None:
        rows = self.query("SELECT name FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL", (key_hash,))
        return str(rows[0][0]) if rows else None

    def key_names_by_hash(self) -> dict[str, str]:
        rows = self.query("SELECT key_hash, name FROM api_keys WHERE revoked_at IS NULL")
        return {str(h): str(n) for h, n in rows}

    # --- dashboard sessions ------------------------------------------------------------------

    def open_session(self, session: DashboardSession) -> None:
        with self._write_lock, self._transaction() as cur:
            cur.execute(self._sql("DELETE FROM dashboard_sessions WHERE expires_at < ?"), (session.created_at,))
            cur.execute(
                self._sql(
                    "INSERT INTO dashboard_sessions (token_hash, key_hash, csrf, created_at, expires_at)"
                    " VALUES (?, ?, ?, ?, ?)"
                ),
                (session.token_hash, session.key_hash, session.csrf, session.created_at, session.expires_at),
            )

    def find_session(self, token_hash: str, at: str) -> DashboardSession | None:
        rows = self.query(
            "SELECT token_hash, key_hash, csrf, created_at, expires_at FROM dashboard_sessions"
            " WHERE token_hash = ? AND expires_at > ?",
            (token_hash, at),
        )
        return DashboardSession(*rows[0]) if rows else None

    def end_session(self, token_hash: str) -> None:
        with self._write_lock, self._transaction() as cur:
            cur.execute(self._sql("DELETE FROM dashboard_sessions WHERE token_hash = ?"), (token_hash,))

    # --- the gradebook's cells ---------------------------------------------------------------

    def events_high_water(self) -> int:
        with self._write_lock, self._transaction() as cur:
            if self.dialect == "postgresql":
                cur.execute("LOCK TABLE events IN SHARE MODE")  # waits for uncommitted inserts
            cur.execute("SELECT max(id) FROM events")
            row = cur.fetchone()
        return int(row[0] or 0) if row else 0

    def put_gradebook(
        self, courses: Sequence[str], cells: Sequence[tuple[Any, ...]], items: Sequence[tuple[str, str, str]],
        high_water: int, generation: int,
    ) -> None:
        with self._write_lock, self._transaction() as cur:
            cur.executemany(self._sql("DELETE FROM gb_cells WHERE course_number = ?"), [(c,) for c in courses])
            cur.executemany(self._sql("DELETE FROM gb_items WHERE course_number = ?"), [(c,) for c in courses])
            if cells:
                cur.executemany(self._sql(f"INSERT INTO gb_cells VALUES ({', '.join('?' * len(cells[0]))})"), cells)
            if items:
                cur.executemany(self._sql("INSERT INTO gb_items (course_number, item_pk, stats) VALUES (?, ?, ?)"), items)
            cur.execute(
                self._sql("UPDATE gb_state SET high_water = ?, built_generation = ? WHERE id = 1"), (high_water, generation)
            )
        if len(cells) >= _ANALYZE_AFTER:
            # fresh statistics: with stale ones PostgreSQL sorts the whole table (spilling to
            # disk) instead of reading the primary key in the reports' order (10x slower)
            self.analyze(["gb_cells"])

    # --- names -------------------------------------------------------------------------------

    def put_names(self, courses: Sequence[CourseName], items: Sequence[ItemName], users: Sequence[UserName]) -> int:
        at = now()
        with self._write_lock, self._transaction() as cur:
            if courses:
                cur.executemany(
                    self._sql(
                        "INSERT INTO course_names (course_number, course_pk, name, loaded_at) VALUES (?, ?, ?, ?)"
                        " ON CONFLICT (course_number) DO UPDATE SET course_pk = excluded.course_pk,"
                        " name = excluded.name, loaded_at = excluded.loaded_at"
                    ),
                    [(c.course_number, c.course_pk, c.name, at) for c in courses],
                )
            if items:
                cur.executemany(
                    self._sql(
                        "INSERT INTO item_names (item_pk, course_number, name, max_score, loaded_at) VALUES (?, ?, ?, ?, ?)"
                        " ON CONFLICT (item_pk) DO UPDATE SET course_number = excluded.course_number,"
                        " name = excluded.name, max_score = excluded.max_score, loaded_at = excluded.loaded_at"
                    ),
                    [(i.item_pk, i.course_number, i.name, i.max_score, at) for i in items],
                )
            if users:
                cur.executemany(
                    self._sql(
                        "INSERT INTO user_names (user_key, user_uuid, user_pk, external_id, username, given_name,"
                        " family_name, email, loaded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                        " ON CONFLICT (user_key) DO UPDATE SET user_uuid = excluded.user_uuid,"
                        " user_pk = excluded.user_pk, external_id = excluded.external_id, username = excluded.username,"
                        " given_name = excluded.given_name, family_name = excluded.family_name,"
                        " email = excluded.email, loaded_at = excluded.loaded_at"
                    ),
                    [
                        (u.key, u.user_uuid, u.user_pk, u.external_id, u.username, u.given_name, u.family_name, u.email, at)
                        for u in users
                    ],
                )
        return len(courses) + len(items) + len(users)

    # --- summaries ---------------------------------------------------------------------------

    def stats(self) -> Stats:
        def counts(sql: str) -> list[Count]:
            return [Count(k, int(n)) for k, n in self.query(sql)]

        def grouped(col: str) -> list[Count]:
            return counts(f"SELECT {col}, count(*) AS n FROM events GROUP BY {col} ORDER BY n DESC, {col}")

        totals = self.query(
            "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM dead_letters),"
            " (SELECT count(*) FROM dead_letters WHERE replayed_at IS NULL)"
        )[0]
        newest = self.query(
            "SELECT source, max(event_time), max(received_at) FROM events GROUP BY source ORDER BY source"
        )
        return Stats(
            events=int(totals[0]),
            dead_letters=int(totals[1]),
            dead_letters_pending=int(totals[2]),
            by_source=grouped("source"),
            by_type=grouped("type"),
            by_action=grouped("action"),
            by_day=counts(
                f"SELECT {day_sql(self.dialect)} AS day, count(*) FROM events GROUP BY day ORDER BY day"
            ),
            newest=[Newest(s, self.time_text(t), self.time_text(r)) for s, t, r in newest],
            inbox=self.inbox_backlog(),
        )

    def ping(self) -> None:
        self.query("SELECT 1")

    def probe_write(self) -> None:
        self.ping()

    def checkpoint(self) -> None:
        return None

    def analyze(self, tables: Sequence[str]) -> None:
        return None

    def reindex(self, tables: Sequence[str], months: Sequence[str] = ()) -> list[Packed]:
        return []

    def __enter__(self) -> SQLStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
