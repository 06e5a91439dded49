"""The inbox operations of the store protocol, on a real SQLite file and a real PostgreSQL:
bodies in, one digest transaction out, nothing stored twice when a digest is redone, replicas
claiming disjoint rows, and migration 0008 on a database that already holds events."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from pathlib import Path

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st
from storekit import raw_connection, schema_before

from caliper_stream.ingest import Batch, prepare
from caliper_stream.read import read_bytes
from caliper_stream.store import Store, open_store
from caliper_stream.store.base import Backlog, Claim, Inboxed
from caliper_stream.store.inbox_file import CHECKPOINT_BYTES, InboxFile

V1P1 = "http://purl.imsglobal.org/ctx/caliper/v1p1"


def body(tag: str, n: int = 3) -> bytes:
    events = [
        {"@context": V1P1, "id": f"urn:uuid:{tag}-{i}", "type": "NavigationEvent", "action": "NavigatedTo",
         "actor": {"id": "urn:a", "type": "Person"}, "object": {"id": "urn:o", "type": "WebPage"},
         "eventTime": "2021-01-05T14:50:26.769Z"}
        for i in range(n)
    ]
    return msgspec.json.encode({"sensor": "s", "sendTime": "2021-01-05T14:50:26.769Z", "dataVersion": V1P1, "data": events})


def digest(items: list[Inboxed]) -> list[Batch]:
    return [prepare(list(read_bytes(i.body, i.source)), source=i.source, received_at=i.received_at) for i in items]


def test_bodies_are_digested_once_into_events_and_the_rows_deleted(store: Store) -> None:
    store.inbox_put([Inboxed(body("a"), "learn", "2026-01-01T00:00:00.000Z", events=3),
                     Inboxed(body("b", 2) + b"  ", "learn", "2026-01-01T00:00:01.000Z", events=2)])
    backlog = store.inbox_backlog()
    assert (backlog.rows, backlog.events) == (2, 5)
    assert backlog.bytes > 0
    assert store.stats().inbox == backlog
    results = store.digest_inbox(Claim(), digest)
    assert [(r.accepted, r.duplicates) for r in results] == [(3, 0), (2, 0)]
    assert store.inbox_backlog() == Backlog()
    assert store.digest_inbox(Claim(), digest) == []
    # the same body again (a digest redone after a crash, or a retry): nothing stored twice
    store.inbox_put([Inboxed(body("a"), "learn", "2026-01-01T00:00:02.000Z", events=3)])
    assert [(r.accepted, r.duplicates) for r in store.digest_inbox(Claim(), digest)] == [(0, 3)]
    assert store.query("SELECT count(*), count(DISTINCT event_key) FROM events")[0] == (5, 5)
    assert {r[0] for r in store.query("SELECT received_at FROM event_view")} == {
        "2026-01-01T00:00:00.000Z", "2026-01-01T00:00:01.000Z"}


def test_a_failing_digest_leaves_its_rows_in_the_inbox(store: Store) -> None:
    store.inbox_put([Inboxed(body("c"), "learn", "2026-01-01T00:00:00.000Z", events=3)])

    def broken(items: list[Inboxed]) -> list[Batch]:
        raise RuntimeError("killed mid-digest")

    with pytest.raises(RuntimeError):
        store.digest_inbox(Claim(), broken)
    assert store.inbox_backlog().rows == 1
    assert store.query("SELECT count(*) FROM events")[0][0] == 0
    assert len(store.digest_inbox(Claim(), digest)) == 1
    assert store.query("SELECT count(*) FROM events")[0][0] == 3


def test_a_digest_claims_the_oldest_bodies_within_its_events_and_bytes(store: Store) -> None:
    bodies = [body(f"w{i}", n) for i, n in enumerate((3, 3, 3, 40, 3))]
    store.inbox_put([Inboxed(b, "learn", "2026-01-01T00:00:00.000Z", events=n)
                     for b, n in zip(bodies, (3, 3, 3, 40, 3), strict=True)])
    claimed: list[list[int]] = []

    def sizes(items: list[Inboxed]) -> list[Batch]:
        claimed.append([i.events for i in items])
        return digest(items)

    store.digest_inbox(Claim(events=7), sizes)  # 3 + 3; a third would pass 7
    store.digest_inbox(Claim(events=7), sizes)  # 3; the next one (40) would pass 7
    store.digest_inbox(Claim(events=7), sizes)  # one body at least, whatever it holds
    store.digest_inbox(Claim(size=len(bodies[4]) - 1), sizes)  # one at least, by bytes too
    assert claimed == [[3, 3], [3], [40], [3]]
    assert store.query("SELECT count(*) FROM events")[0][0] == 52
    assert store.digest_inbox(Claim(), sizes) == []
    assert store.inbox_backlog() == Backlog()


@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 1000)), max_size=20),
       st.integers(1, 200), st.integers(1, 5000))
def test_a_claim_takes_the_longest_prefix_within_its_bounds(sizes: list[tuple[int, int]], events: int, size: int) -> None:
    claim = Claim(events=events, size=size)
    n = claim.take(sizes)
    within = [sum(max(1, e) for e, _ in sizes[:k]) <= events and sum(b for _, b in sizes[:k]) <= size
              for k in range(len(sizes) + 1)]
    assert n == (min(1, len(sizes)) if not any(within[1:]) else max(k for k, ok in enumerate(within) if ok))


@pytest.mark.postgres
def test_replicas_claim_disjoint_rows(pg_url: str) -> None:
    """SKIP LOCKED: while one digester holds its claim (mid-transaction), another one gets the
    next rows at once instead of waiting for, or repeating, the first one's."""
    first, second = open_store(pg_url), open_store(pg_url)
    try:
        first.inbox_put([Inboxed(body(f"r{i}", 1), "learn", "2026-01-01T00:00:00.000Z", events=1) for i in range(4)])
        holding, release = threading.Event(), threading.Event()
        seen: dict[str, list[int]] = {}

        def slow(items: list[Inboxed]) -> list[Batch]:
            seen["first"] = [i.id for i in items]
            holding.set()
            assert release.wait(30)
            return digest(items)

        worker = threading.Thread(target=lambda: first.digest_inbox(Claim(events=2), slow))
        worker.start()
        assert holding.wait(30)

        def fast(items: list[Inboxed]) -> list[Batch]:
            seen["second"] = [i.id for i in items]
            return digest(items)

        assert len(second.digest_inbox(Claim(), fast)) == 2
        release.set()
        worker.join(30)
        assert not set(seen["first"]) & set(seen["second"])
        assert second.inbox_backlog() == Backlog()
        assert second.query("SELECT count(*) FROM events")[0][0] == 4
    finally:
        first.close()
        second.close()


@pytest.mark.parametrize("dialect", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_migration_0008_adds_the_inbox_to_a_store_holding_events(dialect: str, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("sqlite_url" if dialect == "sqlite" else "pg_url")
    schema_before(url, 8)
    conn, mark = raw_connection(url)
    with conn:
        conn.cursor().execute(f"INSERT INTO events (event_key, raw, received_at) VALUES ({mark}, {mark}, {mark})",
                              ("k1", b"{}", "2026-01-01T00:00:00.000Z"))
    conn.close()
    store = open_store(url)
    try:
        assert store.schema_version() >= 8
        assert store.query("SELECT event_key FROM event_view") == [("k1",)]
        assert store.inbox_backlog() == Backlog()
        store.inbox_put([Inboxed(body("m"), "learn", "2026-01-01T00:00:00.000Z", events=3)])
        assert [r.accepted for r in store.digest_inbox(Claim(), digest)] == [3]
    finally:
        store.close()


def test_digested_events_are_compressed_once_the_store_trains_its_dictionary(store: Store) -> None:
    """The digest writes through the same codec as every other write: past the training
    threshold the store's events are zstd frames, and each decodes to the bytes that were sent."""
    bodies = []
    for b in range(25):
        events = [
            {"@context": V1P1, "id": f"urn:uuid:d{b}-{i}", "type": "NavigationEvent", "action": "NavigatedTo",
             "actor": {"id": f"https://learn.example.edu/users/_{b * 1000 + i}_1", "type": "Person"},
             "object": {"id": f"https://learn.example.edu/courses/_{i % 17}_1/content/_{i * 7 + b}_1", "type": "WebPage",
                        "name": f"Week {i % 12} reading {b}"},
             "eventTime": f"2021-01-{1 + b:02d}T14:{i % 60:02d}:26.769Z"}
            for i in range(100)
        ]
        bodies.append(msgspec.json.encode({"sensor": "s", "sendTime": "2021-01-05T14:50:26.769Z", "dataVersion": V1P1, "data": events}))
    store.inbox_put([Inboxed(raw, "learn", "2026-01-01T00:00:00.000Z", events=100) for raw in bodies])
    while store.digest_inbox(Claim(events=500), digest):
        pass
    sent = {e.raw for raw in bodies for e in read_bytes(raw, "learn")}
    rows = store.query("SELECT raw_codec, raw FROM events")
    assert len(rows) == len(sent) == 2500
    assert sum(codec is not None for codec, _ in rows) > 0
    assert {store.decode_raw(codec, raw) for codec, raw in rows} == sent


def test_sqlite_acknowledges_while_the_database_is_locked_by_a_digest(sqlite_url: str) -> None:
    """The inbox is a file of its own: an acknowledgement never waits for the digester's
    transaction on the database (SQLite has one writer per file)."""
    path = sqlite_url.removeprefix("sqlite:///")
    store = open_store(sqlite_url, busy_timeout=0.2)
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # what a digest transaction holds while it writes
        store.inbox_put([Inboxed(body("locked"), "learn", "2026-01-01T00:00:00.000Z", events=3)])
        assert store.inbox_backlog().rows == 1
        holder.execute("ROLLBACK")
        assert [r.accepted for r in store.digest_inbox(Claim(), digest)] == [3]
    finally:
        holder.close()
        store.close()


def test_sqlite_a_lost_inbox_file_starts_its_ids_above_the_digested_mark(sqlite_url: str) -> None:
    """The database's mark says which inbox ids are digested; a new inbox file (deleted, or
    restored from an older copy) must not hand out ids at or below it, or bodies would be
    skipped."""
    path = sqlite_url.removeprefix("sqlite:///")
    with open_store(sqlite_url) as store:
        store.inbox_put([Inboxed(body(f"l{i}"), "learn", "2026-01-01T00:00:00.000Z", events=3) for i in range(3)])
        assert len(store.digest_inbox(Claim(), digest)) == 3
    for suffix in ("-inbox", "-inbox-wal", "-inbox-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(path + suffix)
    with open_store(sqlite_url) as store:
        store.inbox_put([Inboxed(body("after"), "learn", "2026-01-01T00:00:00.000Z", events=3)])
        assert store.inbox_backlog().rows == 1
        assert [r.accepted for r in store.digest_inbox(Claim(), digest)] == [3]
        assert store.query("SELECT count(*) FROM events")[0][0] == 12


def test_sqlite_two_digesters_of_the_same_bodies_store_them_once(sqlite_url: str) -> None:
    """After a restart the old digester (draining) and the new one may read the same bodies;
    the mark, read again inside the write transaction, makes the second one skip them."""
    first, second = open_store(sqlite_url), open_store(sqlite_url)
    try:
        first.inbox_put([Inboxed(body(f"t{i}"), "learn", "2026-01-01T00:00:00.000Z", events=3) for i in range(2)])
        seen: list[list[Inboxed]] = []

        def slow(items: list[Inboxed]) -> list[Batch]:
            seen.append(items)
            if len(seen) == 1:  # the first digester has read; the second digests meanwhile
                assert [r.accepted for r in second.digest_inbox(Claim(), digest)] == [3, 3]
            return digest(items)

        assert [(r.accepted, r.duplicates) for r in first.digest_inbox(Claim(), slow)] == [(0, 0), (0, 0)]
        assert first.query("SELECT count(*), count(DISTINCT event_key) FROM events")[0] == (6, 6)
        assert first.inbox_backlog() == Backlog()
        first.checkpoint()  # purges digested bodies from the inbox file
        assert first.inbox.pending(-1, Claim()) == []  # type: ignore[attr-defined]
    finally:
        first.close()
        second.close()


def test_erasure_waits_for_the_inbox_and_leaves_no_digested_body_in_its_file(sqlite_url: str) -> None:
    """A body still in the inbox would bring an erased person back once digested: `forget`
    refuses until the inbox is digested, and its vacuum rewrites the inbox file too."""
    from caliper_stream.errors import StoreUnavailable
    from caliper_stream.privacy.forget import forget

    path = sqlite_url.removeprefix("sqlite:///")
    with open_store(sqlite_url) as store:
        store.inbox_put([Inboxed(body("erase"), "learn", "2026-01-01T00:00:00.000Z", events=3)])
        with contextlib.closing(sqlite3.connect(path + "-inbox")) as conn:
            [(stored,)] = conn.execute("SELECT body FROM inbox").fetchall()
        with pytest.raises(StoreUnavailable, match="wait in the inbox"):
            forget(store, "urn:a", actor="test")
        assert len(store.digest_inbox(Claim(), digest)) == 1
        forget(store, "urn:a", actor="test")  # the vacuum that ends an erasure
    with open(path + "-inbox", "rb") as f:
        left = f.read()
    # neither the body as sent nor as the inbox stored it (compressed) is anywhere in the file
    assert b"urn:uuid:erase-0" not in left
    assert stored[:64] not in left
    assert ZSTD_MAGIC not in left


#: The first bytes of every zstd frame.
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def test_sqlite_the_inbox_keeps_bodies_compressed_and_gives_back_the_bytes_received(sqlite_url: str) -> None:
    """What acknowledging writes (twice: the WAL, then the checkpoint) is a zstd frame of the
    body; the digest gets the body back byte for byte, and the backlog counts its bytes as received."""
    path = sqlite_url.removeprefix("sqlite:///")
    sent = [body("z1", 50), body("z2", 1) + b" \n", b"not json at all \xff"]
    with open_store(sqlite_url) as store:
        store.inbox_put([Inboxed(b, "learn", "2026-01-01T00:00:00.000Z", events=1) for b in sent])
        assert store.inbox_backlog() == Backlog(3, 3, sum(map(len, sent)))
        with contextlib.closing(sqlite3.connect(path + "-inbox")) as conn:
            stored = conn.execute("SELECT body, bytes, codec FROM inbox ORDER BY id").fetchall()
        assert [(n, codec) for _, n, codec in stored] == [(len(b), 1) for b in sent]
        assert all(bytes(b).startswith(ZSTD_MAGIC) for b, _, _ in stored)
        assert len(stored[0][0]) * 10 < len(sent[0])  # an envelope repeats itself event after event
        got: list[bytes] = []

        def keep(items: list[Inboxed]) -> list[Batch]:
            got.extend(i.body for i in items)
            return [Batch() for _ in items]

        store.digest_inbox(Claim(), keep)
        assert got == sent
        assert store.inbox_backlog() == Backlog()


#: The inbox file's schema before the ``bytes`` column and the backlog index.
OLD_INBOX_DDL = """CREATE TABLE inbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    body BLOB NOT NULL,
    source TEXT NOT NULL,
    received_at TEXT NOT NULL,
    content_type TEXT NOT NULL DEFAULT '',
    events INTEGER NOT NULL DEFAULT 0,
    protected INTEGER NOT NULL DEFAULT 0
)"""


def test_sqlite_an_inbox_file_of_the_earlier_schema_is_upgraded_in_place(sqlite_url: str) -> None:
    """A file written before the ``bytes`` column (a server upgraded with a backlog): its bodies
    are counted and digested, new ones are added, and the backlog is counted from the index."""
    path = sqlite_url.removeprefix("sqlite:///")
    open_store(sqlite_url).close()
    old = [body("old1"), body("old2", 2)]
    with contextlib.closing(sqlite3.connect(path + "-inbox", isolation_level=None)) as conn:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(OLD_INBOX_DDL)
        conn.executemany("INSERT INTO inbox (body, source, received_at, content_type, events, protected)"
                         " VALUES (?, 'learn', '2026-01-01T00:00:00.000Z', 'application/json', ?, 0)",
                         [(old[0], 3), (old[1], 2)])
    with open_store(sqlite_url) as store:
        assert store.inbox_backlog() == Backlog(2, 5, len(old[0]) + len(old[1]))
        new = body("new")
        store.inbox_put([Inboxed(new, "learn", "2026-01-01T00:00:01.000Z", events=3)])
        assert store.inbox_backlog() == Backlog(3, 8, len(old[0]) + len(old[1]) + len(new))
        got: list[bytes] = []

        def keep(items: list[Inboxed]) -> list[Batch]:
            got.extend(i.body for i in items)
            return digest(items)

        results = store.digest_inbox(Claim(), keep)
        assert [r.accepted for r in results] == [3, 2, 3]
        assert got == [*old, new]  # the old plain bodies as they were, the new one decompressed
        assert store.inbox_backlog() == Backlog()
    with contextlib.closing(sqlite3.connect(path + "-inbox")) as conn:
        assert conn.execute("SELECT count(*) FROM pragma_table_info('inbox') WHERE name = 'codec'").fetchone() == (1,)
        assert conn.execute("PRAGMA page_size").fetchone()[0] == 4096  # an existing file keeps its pages
        [(*_, plan)] = conn.execute(
            "EXPLAIN QUERY PLAN SELECT count(*), sum(events), sum(bytes) FROM inbox WHERE id > 0").fetchall()
        assert "COVERING INDEX inbox_backlog" in plan


@pytest.mark.parametrize("read_bytes", [1, 2_500, 1 << 30])
def test_sqlite_a_claim_is_read_in_pieces_and_whole(sqlite_url: str, read_bytes: int,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """However the claim is cut into reads (one per body, a few bodies, all at once), the digest
    gets exactly the claimed bodies, oldest first."""
    monkeypatch.setattr("caliper_stream.store.inbox_file.READ_BYTES", read_bytes)
    sent = [body(f"p{i}", 1 + i % 4) for i in range(9)]
    store = open_store(sqlite_url)
    try:
        store.inbox_put([Inboxed(b, "learn", "2026-01-01T00:00:00.000Z", events=1 + i % 4) for i, b in enumerate(sent)])
        got: list[bytes] = []

        def keep(items: list[Inboxed]) -> list[Batch]:
            got.extend(i.body for i in items)
            return digest(items)

        assert len(store.digest_inbox(Claim(events=14), keep)) == 6  # 1+2+3+4+1+2 = 13; a 3 more would pass 14
        assert len(store.digest_inbox(Claim(), keep)) == 3
        assert got == sent
    finally:
        store.close()


def test_sqlite_a_new_inbox_file_has_64_kib_pages(sqlite_url: str) -> None:
    path = sqlite_url.removeprefix("sqlite:///")
    with open_store(sqlite_url) as store:
        store.inbox_put([Inboxed(body("page"), "learn", "2026-01-01T00:00:00.000Z", events=3)])
        assert store.inbox_backlog() == Backlog(1, 3, len(body("page")))
    with contextlib.closing(sqlite3.connect(path + "-inbox")) as conn:
        assert conn.execute("PRAGMA page_size").fetchone()[0] == 65536


def _wal_size(path: str) -> int:
    with contextlib.suppress(FileNotFoundError):
        return os.path.getsize(path + "-wal")
    return 0


def test_sqlite_the_inbox_wal_starts_over_under_continuous_inserts(tmp_path: Path) -> None:
    """The checkpointer copies the WAL back behind the inserts and makes it start over: under
    a steady stream of acknowledgements the WAL stays near `CHECKPOINT_BYTES`, instead of
    growing to the writer's backstop (which would checkpoint on an acknowledgement's time)."""
    path = str(tmp_path / "x-inbox")
    inbox = InboxFile(path, synchronous="NORMAL", busy_timeout=5.0)
    big = os.urandom(1 << 20) * 2  # 2 MiB, incompressible to the page cache's eyes
    written, largest = 0, 0
    try:
        for _ in range(80):  # 160 MiB, past what one checkpoint covers several times
            inbox.put([Inboxed(big, "learn", "2026-01-01T00:00:00.000Z", events=100)], 0)
            written += len(big)
            largest = max(largest, _wal_size(path))
            time.sleep(0.005)
    finally:
        inbox.close()
    assert written > 4 * CHECKPOINT_BYTES
    assert largest < written // 2, f"the WAL grew to {largest >> 20} MiB of {written >> 20} MiB written"
    with contextlib.closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT count(*), sum(bytes) FROM inbox").fetchone() == (80, written)


def test_sqlite_a_long_reader_of_the_inbox_does_not_hold_up_inserts(tmp_path: Path) -> None:
    """A checkpoint that cannot finish (a reader holds an old snapshot) gives up within
    `RESTART_WAIT` instead of making the inserts wait behind it."""
    path = str(tmp_path / "x-inbox")
    inbox = InboxFile(path, synchronous="NORMAL", busy_timeout=5.0)
    big = os.urandom(1 << 20) * 2
    inbox.put([Inboxed(big, "learn", "2026-01-01T00:00:00.000Z", events=100)], 0)
    reader = sqlite3.connect(path, isolation_level=None)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM inbox").fetchone()  # holds its snapshot
        slowest = 0.0
        for _ in range(30):
            started = time.perf_counter()
            inbox.put([Inboxed(big, "learn", "2026-01-01T00:00:00.000Z", events=100)], 0)
            slowest = max(slowest, time.perf_counter() - started)
        assert slowest < 2.0, f"an insert waited {slowest:.2f} s behind the checkpointer"
        reader.execute("COMMIT")
    finally:
        reader.close()
        inbox.close()
    with contextlib.closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT count(*) FROM inbox").fetchone()[0] == 31


@pytest.mark.postgres
def test_postgresql_compresses_inbox_bodies_with_lz4(pg_url: str) -> None:
    """TOAST compresses a body with lz4 (migration 0017), not pglz, and gives it back whole."""
    sent = body("lz4", 100)
    with open_store(pg_url) as store:
        store.inbox_put([Inboxed(sent, "learn", "2026-01-01T00:00:00.000Z", events=100)])
        [(method, size, stored)] = store.query("SELECT pg_column_compression(body), length(body), pg_column_size(body) FROM inbox")
        assert (method, size) == ("lz4", len(sent))
        assert stored * 10 < len(sent)
        got: list[bytes] = []

        def keep(items: list[Inboxed]) -> list[Batch]:
            got.extend(i.body for i in items)
            return digest(items)

        assert [r.accepted for r in store.digest_inbox(Claim(), keep)] == [100]
        assert got == [sent]
