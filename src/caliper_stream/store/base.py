"""The store protocol every backend implements (sync; the server reaches it through
`caliper_stream.store.writer`, the one async seam)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import msgspec

from caliper_stream.ingest import Batch, DeadLetter, Row
from caliper_stream.problems import Problem

if TYPE_CHECKING:
    from caliper_stream.store.common import Tx

T = TypeVar("T")


class WriteResult(msgspec.Struct):
    """What one committed write did with one batch.

    ``accepted`` events were new; ``duplicates`` were already stored (or earlier in the same
    transaction); ``dead_letters`` is how many of the batch's items are dead letters (one with
    the same source and bytes as a stored one is kept once, so retries and re-imports do not
    pile up copies).
    """

    accepted: int = 0
    duplicates: int = 0
    dead_letters: int = 0

    def __add__(self, other: WriteResult) -> WriteResult:
        return WriteResult(
            self.accepted + other.accepted,
            self.duplicates + other.duplicates,
            self.dead_letters + other.dead_letters,
        )


#: What a key may do: ``write`` posts events (what Learn holds) and nothing else; ``read`` reads
#: the API and the dashboard and never writes; ``admin`` reads and administers.
ROLES = ("write", "read", "admin")


class Packed(msgspec.Struct, frozen=True):
    """One table's indexes rebuilt by `Store.reindex`: their bytes before and after."""

    table: str
    before: int
    after: int


class ApiKey(msgspec.Struct):
    """One API key as stored: only its hash, never the key itself."""

    name: str
    key_hash: str
    created_at: str
    revoked_at: str | None = None
    role: str = "write"
    #: Whether a read or admin key may see people's names and external ids.
    identity: bool = False

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class DashboardSession(msgspec.Struct):
    """A dashboard sign-in: the hash of its token, the key it signed in with, its CSRF token."""

    token_hash: str
    key_hash: str
    csrf: str
    created_at: str
    expires_at: str


class StoredDeadLetter(msgspec.Struct):
    """A dead letter as kept in the store: the exact raw bytes and why they were refused."""

    id: int
    raw: bytes
    reasons: list[Problem]
    source: str | None
    received_at: str
    replayed_at: str | None = None


class Count(msgspec.Struct):
    """One group of a stats breakdown."""

    key: str | None
    count: int


class Newest(msgspec.Struct):
    """The newest event (by eventTime) and the last arrival of one source."""

    source: str | None
    event_time: str | None
    received_at: str | None


class Stats(msgspec.Struct):
    """What is in a store: totals and breakdowns (largest first; days in date order)."""

    events: int
    dead_letters: int
    dead_letters_pending: int
    by_source: list[Count]
    by_type: list[Count]
    by_action: list[Count]
    by_day: list[Count]
    newest: list[Newest]
    #: request bodies acknowledged and not yet digested into events
    inbox: Backlog = msgspec.field(default_factory=lambda: Backlog())


#: The inbox's columns besides its id, in `Inboxed` order.
INBOX_COLUMNS: tuple[str, ...] = ("body", "source", "received_at", "content_type", "events", "protected")


class Inboxed(msgspec.Struct):
    """One request body in the inbox (`id` 0 until stored): what the digester needs to turn it
    into events and dead letters exactly as the HTTP layer would have."""

    body: bytes
    source: str
    received_at: str
    content_type: str = ""
    #: events the HTTP layer counted in the body (the backlog is measured in these)
    events: int = 0
    #: the body is already pseudonymised (the digester must not protect it again)
    protected: bool = False
    id: int = 0

    def __len__(self) -> int:
        """Rows this body weighs in a group commit: one, or its events."""
        return max(1, self.events)


class Claim(msgspec.Struct, frozen=True):
    """How much one digest takes from the inbox: the oldest bodies, as long as their events
    stay within `events` and their stored bytes within `size` (always one body at least).

    Bounded by events, not bodies: a transaction rewrites every index page its rows land on,
    and as the indexes grow its rows land on ever more pages, so small transactions cost more
    per event the larger the store (docs/server.md, "Digest size"). Bounded by bytes, so that a
    digest's memory stays bounded whatever the bodies weigh."""

    events: int = 20_000
    size: int = 64 * 1024 * 1024

    def take(self, sizes: Iterable[tuple[int, int]]) -> int:
        """How many of the bodies whose (events, bytes) are `sizes`, oldest first, one digest takes."""
        count = events = size = 0
        for n, b in sizes:
            events, size = events + max(1, n), size + b
            if count and (events > self.events or size > self.size):
                break
            count += 1
        return count


class Backlog(msgspec.Struct, frozen=True):
    """What waits in the inbox for the digester."""

    rows: int = 0
    events: int = 0
    bytes: int = 0


class CourseName(msgspec.Struct, frozen=True):
    """A course's title, keyed by the courseNumber (batch_uid) events carry."""

    course_number: str
    name: str
    course_pk: str | None = None


class ItemName(msgspec.Struct, frozen=True):
    """A gradable item (Grade Center column): its pk1, name and points possible."""

    item_pk: str
    name: str
    course_number: str | None = None
    max_score: float | None = None


class UserName(msgspec.Struct, frozen=True):
    """A person's name and contact as Learn's user records give them (personal data)."""

    user_uuid: str | None = None
    user_pk: str | None = None
    external_id: str | None = None
    username: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    email: str | None = None

    @property
    def key(self) -> str | None:
        """How the store keys the person: uuid, else pk1, else batch_uid."""
        return self.user_uuid or self.user_pk or self.external_id


class Store(Protocol):
    """A durable, idempotent home for events and dead letters.

    Implementations are safe to share between threads: writes are serialised on one
    connection, reads use their own connections so that a long export never blocks ingest.
    """

    url: str
    #: ``"sqlite"`` or ``"postgresql"``: which SQL dialect `query` and `stream` take.
    dialect: str

    def migrate(self) -> list[str]:
        """Apply pending schema migrations; return the names of those applied."""
        ...

    def schema_version(self) -> int:
        """The highest migration version applied (0 for an empty database)."""
        ...

    def write(self, rows: Sequence[Row], dead_letters: Sequence[DeadLetter] = ()) -> WriteResult:
        """Store rows (deduplicated on event_key) and dead letters in ONE transaction.
        Returns only after the commit is durable; raises StoreUnavailable if it cannot commit."""
        ...

    def write_batches(self, batches: Sequence[Batch]) -> list[WriteResult]:
        """Write several batches in ONE transaction and return one result per batch.

        An event_key seen in several batches counts as accepted in the first one only, so
        every caller of a group commit learns exactly what its own request added."""
        ...

    def time_key(self, value: str) -> Any:
        """What a time column of ``events`` is compared with for `value` (a date or a canonical
        time; ``event_view`` has ``event_at``, the stored ``event_time``, for ranges)."""
        ...

    def time_text(self, stored: Any) -> str | None:
        """The text of a value read from a time column of ``events`` itself."""
        ...

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[tuple[Any, ...]]:
        """Run a read-only query (dialect-specific SQL, ``?`` placeholders are translated)."""
        ...

    def stream(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Iterator[tuple[Any, ...]]:
        """Like `query` but yields rows with bounded memory (server-side cursor)."""
        ...

    def decode_raw(self, codec: int | None, blob: bytes | memoryview) -> bytes:
        """The exact bytes of an event from its stored ``raw_codec, raw`` columns (select both
        wherever events' bytes are read: ``raw`` alone may be compressed; store/codec.py)."""
        ...

    def transaction(self) -> AbstractContextManager[Any]:
        """A write transaction for tables derived from events (the analytics summaries): yields
        a DB-API cursor (``?`` placeholders on SQLite, ``%s`` on PostgreSQL), commits on exit."""
        ...

    # --- dead letters ------------------------------------------------------------------------

    def list_dead_letters(
        self, limit: int = 100, *, after_id: int = 0, include_replayed: bool = False
    ) -> list[StoredDeadLetter]:
        """Dead letters in id order, starting after `after_id` (pending ones only by default)."""
        ...

    def get_dead_letter(self, id: int) -> StoredDeadLetter | None:
        """One dead letter by id, replayed or not."""
        ...

    def replay_dead_letter(self, id: int, rows: Sequence[Row]) -> WriteResult:
        """Store `rows` (what the dead letter's bytes now read as) and mark the dead letter
        replayed, in ONE transaction. Returns accepted/duplicates of the rows."""
        ...

    # --- API keys (hashes only; the server hashes and compares) ------------------------------

    def add_key(self, name: str, key_hash: str, *, role: str = "write", identity: bool = False) -> None:
        """Record a key of `role` (one of `ROLES`); raises StoreError when an active key already
        has this name."""
        ...

    def list_keys(self) -> list[ApiKey]:
        """Every key, revoked ones included, oldest first."""
        ...

    def revoke_key(self, name: str) -> bool:
        """Revoke the active key of this name; False when there is none."""
        ...

    def find_key(self, key_hash: str) -> str | None:
        """The name of the active key with this hash, if any."""
        ...

    def key_names_by_hash(self) -> dict[str, str]:
        """Every active key as ``{key_hash: name}`` (for a server-side cache)."""
        ...

    def active_keys(self) -> list[ApiKey]:
        """Every active key with its role (for a server-side cache)."""
        ...

    # --- dashboard sessions (token hashes only) ----------------------------------------------

    def open_session(self, session: DashboardSession) -> None:
        """Record a sign-in (and forget sessions that have expired)."""
        ...

    def find_session(self, token_hash: str, at: str) -> DashboardSession | None:
        """The session with this token hash, unless it expired before `at`."""
        ...

    def end_session(self, token_hash: str) -> None:
        """Forget a session (sign-out)."""

    # --- names (loaded by an admin; events rarely carry them) --------------------------------

    def put_names(self, courses: Sequence[CourseName], items: Sequence[ItemName], users: Sequence[UserName]) -> int:
        """Insert or replace names (by courseNumber, item pk1, user key) in ONE transaction;
        returns how many records were written."""
        ...

    # --- the gradebook's cells (derived from grade events; analyse/gradebook.py) ------------

    def events_high_water(self) -> int:
        """The largest event id such that every lower id is committed or will never be (on
        PostgreSQL ids are handed out before commit, so this waits for in-flight inserts)."""
        ...

    def put_gradebook(
        self, courses: Sequence[str], cells: Sequence[tuple[Any, ...]], items: Sequence[tuple[str, str, str]],
        high_water: int, generation: int,
    ) -> None:
        """Replace the gradebook cells of `courses` by `cells` (``gb_cells`` column order) and
        their items' statistics by `items` (course, item, JSON), and record `high_water` and the
        events `generation` they were built from, in ONE transaction."""
        ...

    # --- inbox (acknowledged request bodies, digested behind) ----------------------------------

    def inbox_put(self, bodies: Sequence[Inboxed]) -> None:
        """Insert `bodies` into the inbox in ONE transaction (durable on return)."""
        ...

    def digest_inbox(self, claim: Claim, work: Callable[[list[Inboxed]], list[Batch]]) -> list[WriteResult]:
        """In ONE transaction: claim the oldest inbox rows within `claim` (PostgreSQL: ``FOR
        UPDATE SKIP LOCKED``, so that replicas share them), store the batches `work` makes of
        them (events dedupe on key, dead letters on digest: a digest redone stores nothing twice)
        and delete the rows; returns one result per claimed row (none: the inbox is empty)."""
        ...

    def inbox_delete(self, ids: Sequence[int]) -> None:
        """Delete inbox rows whose batches were stored otherwise (poison-row isolation)."""
        ...

    def inbox_backlog(self) -> Backlog:
        """Rows, counted events and bytes waiting in the inbox."""
        ...

    # --- summaries ---------------------------------------------------------------------------

    def stats(self) -> Stats:
        """Counts by source, type, action and day, and the newest event per source."""
        ...

    # --- maintenance (privacy, erasure, retention) ---------------------------------------------

    def transact(self, work: Callable[[Tx], T]) -> T:
        """Run `work` in ONE write transaction (``?`` SQL through `Tx`) and return its result."""
        ...

    def vacuum(self, tables: Sequence[str]) -> list[str]:
        """Rewrite `tables` so that deleted rows leave no bytes in the database files (SQLite:
        secure_delete, VACUUM, WAL truncated; PostgreSQL: VACUUM FULL); return warnings."""
        ...

    def reindex(self, tables: Sequence[str], months: Sequence[str] = ()) -> list[Packed]:
        """Rebuild the indexes of `tables` packed while ingest and queries go on, and say what
        each table's indexes took before and after (``events``: each month partition, or those of
        `months`, ``YYYY-MM``). PostgreSQL splits a full B-tree page in halves, so indexes whose
        keys grow within many groups (the event time of each user's, course's and source's
        events) keep pages about half full; REINDEX CONCURRENTLY rebuilds them. SQLite balances
        neighbouring pages and keeps them ~90 % full: nothing to do, []."""
        ...

    def analyze(self, tables: Sequence[str]) -> None:
        """Refresh the query planner's statistics of `tables` after a bulk change (PostgreSQL:
        ANALYZE; autovacuum never analyses a partitioned table's parent and may be off; a
        no-op on SQLite, whose plans here need none)."""
        ...

    def ping(self) -> None:
        """Raise StoreUnavailable unless the database answers (for health checks)."""
        ...

    def probe_write(self) -> None:
        """Raise StoreUnavailable unless a write could start now (nothing is written); also
        re-opens a write connection that a failure left unusable."""
        ...

    def checkpoint(self) -> None:
        """Return space the write-ahead log took during bursts (SQLite; a no-op elsewhere)."""
        ...

    def close(self) -> None: ...
