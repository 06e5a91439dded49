"""PostgreSQL month partitions of ``events``: migration of an existing table, the month each
event lands in, dedupe across partitions and partitions created on demand."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from storekit import schema_before, synthetic_rows

from caliper_stream.ingest import Row, now
from caliper_stream.keydata import KeyData
from caliper_stream.store import open_store
from caliper_stream.store.common import ROW_COLUMNS, row_values
from caliper_stream.store.partitions import DEFAULT, month_of, table_of
from caliper_stream.store.postgres import PostgresStore

pytestmark = pytest.mark.postgres

ODD_TIMES = [None, "", "garbage", "2026-1", "2026-13-01T00:00:00.000Z", "2026-00-10", "2026-09", "2026-0:",
             "2026-1/", "2026-12-31T23:59:59.999Z", "2026-09-30T23:59:59.999Z", "2026-10-01T00:00:00.000Z",
             "2025-12-31T23:59:59.999+14:00", "9999-12-31T00:00:00Z", "0000-01-01", "2026-02-3\u00e9"]


def row(event_time: str | None, key: str | None = None, type_: str = "ViewEvent") -> Row:
    key = key or uuid.uuid4().hex
    kd = KeyData(event_key=key, type=type_, action="Viewed", event_time=event_time)
    return Row(key, b'{"id": "%s"}' % key.encode(), kd, "test", now())


def placement(url: str) -> dict[str, str]:
    """event_key → the partition holding it."""
    with psycopg.connect(url) as conn:
        return dict(conn.execute("SELECT event_key, tableoid::regclass::text FROM events").fetchall())


def expected_table(event_time: str | None) -> str:
    month = month_of(event_time)
    return DEFAULT if month is None else table_of(month)


@pytest.fixture
def pg(pg_url: str) -> Iterator[PostgresStore]:
    with open_store(pg_url) as store:
        assert isinstance(store, PostgresStore)
        yield store


def test_month_of_names_only_real_months() -> None:
    assert month_of("2026-01-05T10:00:00.000Z") == "2026-01"
    assert month_of("2026-12") == "2026-12"
    assert [month_of(t) for t in ("2026-1", "2026-13-01", "2026-00", "x2026-01", None, "")] == [None] * 6
    with pytest.raises(ValueError, match="not a month"):
        table_of("2026-13")


def test_every_event_time_lands_in_its_month_or_the_default(pg: PostgresStore, pg_url: str) -> None:
    rows = [row(t) for t in ODD_TIMES] + [row(f"2026-{m:02d}-15T00:00:00.000Z") for m in range(1, 13)]
    assert pg.write(rows).accepted == len(rows)
    where = placement(pg_url)
    assert {r.event_key: where[r.event_key] for r in rows} == {r.event_key: expected_table(r.keydata.event_time) for r in rows}
    assert pg.write(rows).duplicates == len(rows)  # dedupe across partitions and the default
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM event_keys").fetchone() == (len(rows),)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(times=st.lists(st.one_of(st.none(), st.sampled_from(ODD_TIMES), st.text(max_size=12),
                                st.from_regex(r"\A[0-9]{4}-[0-9]{2}[\s\S]{0,6}\Z")).filter(lambda t: "\x00" not in (t or "")),
                      min_size=1, max_size=8))
def test_arbitrary_event_times_are_stored_where_their_month_says(pg: PostgresStore, pg_url: str, times: list[str | None]) -> None:
    rows = [row(t) for t in times]
    assert pg.write(rows).accepted == len(rows)
    where = placement(pg_url)
    assert {r.event_key: where[r.event_key] for r in rows} == {r.event_key: expected_table(r.keydata.event_time) for r in rows}


def test_concurrent_writers_store_each_key_once(pg_url: str) -> None:
    rows = [row(f"2027-{1 + i % 3:02d}-01T00:00:00.000Z") for i in range(300)]
    accepted: list[int] = []
    stores = [open_store(pg_url) for _ in range(3)]
    try:
        def write(i: int) -> None:
            accepted.append(stores[i].write(rows[i * 50 :] + rows[: i * 50]).accepted)

        threads = [threading.Thread(target=write, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        for s in stores:
            s.close()
    assert sum(accepted) == len(rows)
    assert len(accepted) == 3
    assert len(placement(pg_url)) == len(rows)


def test_a_month_dropped_behind_a_writer_is_recreated_with_its_rows(pg_url: str) -> None:
    with open_store(pg_url) as early, open_store(pg_url) as late_writer:
        early.write([row("2026-01-05T00:00:00.000Z")])
        late_writer.write([row("2026-01-06T00:00:00.000Z")])  # now believes 2026-01 exists
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("DROP TABLE events_2026_01")
        stale = row("2026-01-07T00:00:00.000Z")
        assert late_writer.write([stale]).accepted == 1
        assert placement(pg_url)[stale.event_key] == DEFAULT
    with open_store(pg_url) as fresh:
        other = row("2026-01-08T00:00:00.000Z")
        assert fresh.write([other]).accepted == 1
    where = placement(pg_url)
    assert where == {stale.event_key: "events_2026_01", other.event_key: "events_2026_01"}


def test_migration_moves_every_row_keeping_ids_keys_and_the_sequence(pg_url: str) -> None:
    schema_before(pg_url, 10)
    rows = [row(t) for t in ODD_TIMES]
    rows += synthetic_rows(30, day="2025-11-30") + synthetic_rows(30, day="2025-12-01") + synthetic_rows(30, day="2026-02-28")
    cols = ", ".join(ROW_COLUMNS)
    with psycopg.connect(pg_url) as conn:
        conn.cursor().executemany(
            f"INSERT INTO events ({cols}) VALUES ({', '.join(['%s'] * len(ROW_COLUMNS))})", [row_values(r, lambda raw: (None, raw)) for r in rows]
        )
        conn.execute("DELETE FROM events WHERE event_key = %s", (rows[-1].event_key,))  # the sequence is ahead of max(id)
        last = conn.execute("SELECT last_value FROM events_id_seq").fetchone()
        before = conn.execute(f"SELECT id, {cols} FROM events ORDER BY id").fetchall()
        generation = conn.execute("SELECT generation FROM gb_state").fetchone()
    assert last is not None
    assert generation is not None
    with open_store(pg_url) as store:
        assert store.schema_version() >= 10
        with psycopg.connect(pg_url) as conn:
            assert conn.execute(f"SELECT id, {cols} FROM event_view ORDER BY id").fetchall() == before
            assert conn.execute("SELECT relkind FROM pg_class WHERE oid = 'events'::regclass").fetchone() == ("p",)
            assert conn.execute("SELECT count(*) FROM bi_events").fetchone() == (len(before),)
            indexes = {n for (n,) in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'events'")}
            assert {"events_course_time", "events_time", "events_grades", "events_id"} <= indexes
        where = placement(pg_url)
        assert where == {r.event_key: expected_table(r.keydata.event_time) for r in rows[:-1]}
        assert store.write(rows[:-1]).duplicates == len(rows) - 1
        fresh = row("2026-02-01T00:00:00.000Z")
        assert store.write([rows[-1], fresh]).accepted == 2
        with psycopg.connect(pg_url) as conn:
            ids = dict(conn.execute("SELECT event_key, id FROM events").fetchall())
            assert min(ids[rows[-1].event_key], ids[fresh.event_key]) > last[0]
            migrated = conn.execute("SELECT generation FROM gb_state").fetchone()  # 0015 rewrote the rows
            assert migrated is not None
            assert migrated[0] > generation[0]
            conn.execute("DELETE FROM events WHERE event_key = %s", (fresh.event_key,))  # triggers carried over
            assert conn.execute("SELECT generation FROM gb_state").fetchone() == (migrated[0] + 1,)
            assert conn.execute("SELECT count(*) FROM event_keys WHERE event_key = %s", (fresh.event_key,)).fetchone() == (0,)
        assert store.write([fresh]).accepted == 1  # a deleted event's key is free again
