"""``db reindex``: the events' indexes packed again on PostgreSQL, online, with nothing lost;
nothing to do on SQLite."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest
import typer
from typer.testing import CliRunner

from caliper_stream.cli import storage
from caliper_stream.errors import StoreError
from caliper_stream.ingest import Row, now
from caliper_stream.keydata import KeyData
from caliper_stream.store import open_store
from caliper_stream.store.postgres import PostgresStore

app = typer.Typer()
storage.register(app)
runner = CliRunner()

USERS = 150


def stream(months: list[str], per_user: int) -> Iterator[list[Row]]:
    """Rows as a stream brings them: time goes forward, each batch holds events of every user
    (so each user's, course's and source's times grow within their own range of the indexes)."""
    users = [str(uuid.uuid4()) for _ in range(USERS)]
    for month in months:
        for step in range(per_user):
            batch = []
            for n, user in enumerate(users):
                second = step * USERS + n
                time_ = f"{month}-{1 + second // 86_400:02d}T{second // 3600 % 24:02d}:{second // 60 % 60:02d}:{second % 60:02d}.000Z"
                key = uuid.uuid4().hex
                kd = KeyData(event_key=key, type="ViewEvent", action="Viewed", event_time=time_, user_uuid=user,
                             course_number=f"C{n % 12}")
                batch.append(Row(key, b'{"id": "%s"}' % key.encode(), kd, f"source-{n % 3}", now()))
            yield batch


def index_state(url: str) -> dict[str, tuple[int, bool]]:
    """Index name → (bytes, valid), for the indexes of the events' partitions and event_keys."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT ci.relname, pg_relation_size(ci.oid), x.indisvalid FROM pg_index x"
            " JOIN pg_class ci ON ci.oid = x.indexrelid JOIN pg_class ct ON ct.oid = x.indrelid"
            " WHERE ct.relnamespace = to_regnamespace(current_schema())"
            " AND (ct.relname LIKE 'events\\_%' OR ct.relname = 'event_keys')"
        ).fetchall()
    return {str(n): (int(s), bool(v)) for n, s, v in rows}


def answers(url: str) -> list[object]:
    """What queries through the indexes return."""
    with psycopg.connect(url) as conn:
        user = conn.execute("SELECT min(user_uuid) FROM events").fetchone()
        return [
            conn.execute("SELECT count(*) FROM events").fetchone(),
            conn.execute("SELECT event_key FROM events WHERE user_uuid = %s ORDER BY event_time", user).fetchall(),
            conn.execute("SELECT source, count(*) FROM events GROUP BY source ORDER BY source").fetchall(),
            conn.execute(
                "SELECT count(*) FROM events WHERE course_number = 'C3' AND event_time >= '2026-02'"
            ).fetchone(),
        ]


@pytest.fixture
def pg(pg_url: str) -> Iterator[PostgresStore]:
    with open_store(pg_url) as store:
        assert isinstance(store, PostgresStore)
        yield store


@pytest.mark.postgres
def test_reindex_packs_each_month_and_every_query_still_answers(pg: PostgresStore, pg_url: str) -> None:
    written: list[Row] = []
    for batch in stream(["2026-01", "2026-02"], per_user=60):
        assert pg.write(batch).accepted == len(batch)
        written += batch
    before, seen = index_state(pg_url), answers(pg_url)

    packed = {p.table: p for p in pg.reindex(["events", "event_keys"])}

    assert set(packed) == {"events_2026_01", "events_2026_02", "events_default", "event_keys"}
    after = index_state(pg_url)
    assert all(valid for _, valid in after.values())
    assert len(after) == len(before)  # every index rebuilt in place, none left over or lost
    for month in ("events_2026_01", "events_2026_02"):
        p = packed[month]
        assert p.before == sum(s for n, (s, _) in before.items() if n.startswith(month))
        assert p.after == sum(s for n, (s, _) in after.items() if n.startswith(month))
        assert p.after < 0.8 * p.before, p  # the time-ordered indexes were about half full
    assert answers(pg_url) == seen
    with psycopg.connect(pg_url) as conn:  # the partitions' indexes still belong to the parent's
        attached = conn.execute(
            "SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE c.relkind = 'i'"
            " AND i.inhparent IN (SELECT indexrelid FROM pg_index WHERE indrelid = to_regclass('events'))"
        ).fetchone()[0]
        parents = conn.execute("SELECT count(*) FROM pg_index WHERE indrelid = to_regclass('events')").fetchone()[0]
    assert attached == parents * 3
    assert pg.write(written[:500]).duplicates == 500  # dedupe and inserts work on the new indexes
    assert pg.write(next(stream(["2026-02"], per_user=1))).accepted == USERS


@pytest.mark.postgres
def test_reindex_of_named_months_only(pg: PostgresStore) -> None:
    for batch in stream(["2026-01", "2026-02"], per_user=5):
        pg.write(batch)
    assert [p.table for p in pg.reindex(["events"], ["2026-02"])] == ["events_2026_02"]
    with pytest.raises(StoreError, match="no partition for 2025-07"):
        pg.reindex(["events"], ["2025-07"])


@pytest.mark.postgres
def test_ingest_goes_on_while_a_reindex_runs(pg: PostgresStore, pg_url: str) -> None:
    for batch in stream(["2026-01"], per_user=20):
        pg.write(batch)
    # an open snapshot holds REINDEX CONCURRENTLY between its phases until it ends
    reader = psycopg.connect(pg_url)
    reader.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
    reader.execute("SELECT count(*) FROM events").fetchone()
    done: list[object] = []
    worker = threading.Thread(target=lambda: done.append(pg.reindex(["events"])))
    worker.start()
    try:
        with psycopg.connect(pg_url, autocommit=True) as watch:
            deadline = time.monotonic() + 30
            while not watch.execute("SELECT 1 FROM pg_stat_progress_create_index WHERE command = 'REINDEX CONCURRENTLY'").fetchone():
                assert time.monotonic() < deadline, "the reindex did not start"
                time.sleep(0.02)
        started = time.monotonic()
        more = list(stream(["2026-01"], per_user=3))
        for batch in more:
            assert pg.write(batch).accepted == len(batch)
        assert time.monotonic() - started < 10
        assert worker.is_alive()
        assert not done
    finally:
        reader.rollback()
        reader.close()
        worker.join(60)
    assert done
    assert not worker.is_alive()
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone() == (USERS * 23,)
    assert all(valid for _, valid in index_state(pg_url).values())


@pytest.mark.postgres
def test_leftovers_of_an_interrupted_reindex_are_dropped_and_two_runs_do_not_overlap(pg: PostgresStore, pg_url: str) -> None:
    for batch in stream(["2026-01"], per_user=2):
        pg.write(batch)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        # what a REINDEX CONCURRENTLY stopped half-way leaves: an invalid copy named *_ccnew
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute("CREATE UNIQUE INDEX CONCURRENTLY events_2026_01_type_idx_ccnew ON events_2026_01 (type)")
        assert index_state(pg_url)["events_2026_01_type_idx_ccnew"][1] is False
        conn.execute("SELECT pg_advisory_lock(hashtext('caliper_stream.reindex.' || current_schema()))")
        with pytest.raises(StoreError, match="another reindex of this store is running"):
            pg.reindex(["events"])
        assert "events_2026_01_type_idx_ccnew" in index_state(pg_url)  # the other run's, for all it knows
        conn.execute("SELECT pg_advisory_unlock_all()")
    pg.reindex(["events"])
    state = index_state(pg_url)
    assert "events_2026_01_type_idx_ccnew" not in state
    assert all(valid for _, valid in state.values())


@pytest.mark.postgres
def test_cli_reindex_on_postgresql(pg: PostgresStore, pg_url: str) -> None:
    for batch in stream(["2026-01"], per_user=2):
        pg.write(batch)
    out = runner.invoke(app, ["db", "reindex", "--db", pg_url])
    assert out.exit_code == 0, out.output
    assert "reindexed" in out.output
    assert "events_2026_01" in out.output
    assert "an_members" in out.output
    assert "event_keys" in out.output
    bad = runner.invoke(app, ["db", "reindex", "--db", pg_url, "--month", "2026-13"])
    assert bad.exit_code == 2
    assert "not a month (YYYY-MM): '2026-13'" in bad.output
    assert bad.exception is None or isinstance(bad.exception, SystemExit)
    missing = runner.invoke(app, ["db", "reindex", "--db", pg_url, "--month", "2024-02"])
    assert missing.exit_code == 2
    assert "no partition for 2024-02" in missing.output


def test_reindex_on_sqlite_has_nothing_to_do(sqlite_url: str) -> None:
    with open_store(sqlite_url) as store:
        for batch in stream(["2026-01"], per_user=2):
            store.write(batch)
        assert store.reindex(["events"]) == []
    out = runner.invoke(app, ["db", "reindex", "--db", sqlite_url])
    assert out.exit_code == 0
    assert "nothing to do: SQLite keeps its indexes packed" in out.output


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_a_large_import_into_postgresql_says_to_reindex(backend: str, request: pytest.FixtureRequest,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from storekit import LEARN

    from caliper_stream.store import load

    url = request.getfixturevalue("pg_url" if backend == "postgresql" else "sqlite_url")
    monkeypatch.setattr(load, "ANALYZE_AFTER", 3)  # "large": 3 events or more
    out = runner.invoke(app, ["import", "--db", url, "--quiet", str(LEARN)])
    assert out.exit_code == 0, out.output
    assert ("'caliper-stream db reindex' packs them" in out.output) == (backend == "postgresql")
