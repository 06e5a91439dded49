"""The Store contract, run against SQLite and PostgreSQL alike."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest
from storekit import LEARN, dead_letter, learn_batch, synthetic_rows

from caliper_stream.errors import StoreError, StoreUnavailable
from caliper_stream.ingest import Batch, prepare
from caliper_stream.read import read_bytes
from caliper_stream.store import Store, WriteResult, open_store
from caliper_stream.store.migrations import migrations


def count(store: Store, table: str = "events") -> int:
    return int(store.query(f"SELECT count(*) FROM {table}")[0][0])


def test_same_event_twice_is_one_row(store: Store, learn: Batch) -> None:
    assert store.write(learn.rows) == WriteResult(accepted=len(learn.rows))
    assert store.write(learn.rows) == WriteResult(duplicates=len(learn.rows))
    assert count(store) == len(learn.rows)


def test_duplicates_within_one_batch_are_counted(store: Store, learn: Batch) -> None:
    result = store.write([*learn.rows, *learn.rows[:3]])
    assert result == WriteResult(accepted=len(learn.rows), duplicates=3)
    assert count(store) == len(learn.rows)


def test_events_sharing_an_id_are_both_stored(store: Store) -> None:
    # Learn's Started and Completed AssessmentItemEvents share one id
    batch = learn_batch("assessment-events-2.json")
    ids = {r.keydata.event_id for r in batch.rows}
    assert len(batch.rows) == 2
    assert len(ids) == 1
    assert store.write(batch.rows).accepted == 2
    assert store.query("SELECT count(*) FROM events WHERE event_id = ?", (ids.pop(),)) == [(2,)]


def test_one_bad_event_costs_only_itself(store: Store, learn: Batch) -> None:
    good = [learn.rows[0].raw, learn.rows[1].raw]
    payload = b'{"sensor": "s", "sendTime": "2021-01-05T00:00:00.000Z", "data": [%s, {"type": "Event"}, %s]}' % (
        good[0],
        good[1],
    )
    batch = prepare(read_bytes(payload), source="post")
    assert (len(batch.rows), len(batch.dead_letters)) == (2, 1)
    assert store.write(batch.rows, batch.dead_letters) == WriteResult(accepted=2, dead_letters=1)
    [dl] = store.list_dead_letters()
    assert dl.raw == b'{"type": "Event"}'
    assert dl.reasons == batch.dead_letters[0].reasons
    assert dl.source == "post"
    assert dl.replayed_at is None


def test_dead_letters_keep_exact_bytes_and_reasons(store: Store) -> None:
    raw = b'{"bad\x00": "\xff\xfe not utf-8 \n\r\x01"}'
    letter = dead_letter(raw, "not readable")
    assert store.write([], [letter]) == WriteResult(dead_letters=1)
    [stored] = store.list_dead_letters()
    assert stored.raw == raw
    assert [(p.path, p.message, p.event) for p in stored.reasons] == [("data[0]", "not readable", 0)]
    assert store.get_dead_letter(stored.id) == stored
    assert store.get_dead_letter(stored.id + 1000) is None


def test_same_dead_letter_is_kept_once(store: Store) -> None:
    letter = dead_letter(b"[1, 2]")
    store.write([], [letter])
    assert store.write([], [letter]) == WriteResult(dead_letters=1)
    assert count(store, "dead_letters") == 1
    store.write([], [dead_letter(b"[1, 2]", source="other")])
    assert count(store, "dead_letters") == 2


def test_raw_bytes_round_trip_exactly(store: Store, learn: Batch) -> None:
    store.write(learn.rows)
    stored = dict(store.query("SELECT event_key, raw FROM event_view"))
    assert {k: bytes(v) for k, v in stored.items()} == {r.event_key: r.raw for r in learn.rows}
    # content-events.json holds raw newlines inside strings: kept as sent
    content = learn_batch("content-events.json")
    assert any(b"\n" in r.raw for r in content.rows)
    raw = (LEARN / "content-events.json").read_bytes()
    assert all(r.raw in raw for r in content.rows)


def test_keydata_columns_are_stored(store: Store) -> None:
    batch = learn_batch("grade-events.json")
    store.write(batch.rows)
    kd = batch.rows[0].keydata
    [(course, score, user, roles)] = store.query("SELECT course_number, score, user_uuid, roles FROM events")
    assert (course, score, user, roles) == (kd.course_number, kd.score, kd.user_uuid, kd.roles)


def test_write_batches_attributes_each_key_to_its_first_batch(store: Store, learn: Batch) -> None:
    a = Batch(learn.rows[:5])
    b = Batch(learn.rows[3:8], [dead_letter(b"x")])
    results = store.write_batches([a, b])
    assert results == [WriteResult(accepted=5), WriteResult(accepted=3, duplicates=2, dead_letters=1)]
    assert store.write_batches([a, Batch()]) == [WriteResult(duplicates=5), WriteResult()]


def test_replay_moves_rows_and_marks_the_dead_letter(store: Store, learn: Batch) -> None:
    store.write([], [dead_letter(learn.rows[0].raw)])
    [dl] = store.list_dead_letters()
    assert store.replay_dead_letter(dl.id, learn.rows[:1]) == WriteResult(accepted=1)
    assert count(store) == 1
    assert store.list_dead_letters() == []
    replayed = store.get_dead_letter(dl.id)
    assert replayed is not None
    assert replayed.replayed_at is not None
    assert store.list_dead_letters(include_replayed=True) == [replayed]
    with pytest.raises(StoreError):
        store.replay_dead_letter(dl.id, learn.rows[:1])


def test_api_keys(store: Store) -> None:
    store.add_key("learn-prod", "h1")
    store.add_key("learn-test", "h2")
    with pytest.raises(StoreError):
        store.add_key("learn-prod", "h3")
    assert store.find_key("h1") == "learn-prod"
    assert store.key_names_by_hash() == {"h1": "learn-prod", "h2": "learn-test"}
    assert store.revoke_key("learn-prod") is True
    assert store.revoke_key("learn-prod") is False
    assert store.find_key("h1") is None
    store.add_key("learn-prod", "h4")  # a revoked name may be reused
    keys = store.list_keys()
    assert [(k.name, k.key_hash, k.active) for k in keys] == [
        ("learn-prod", "h1", False),
        ("learn-test", "h2", True),
        ("learn-prod", "h4", True),
    ]
    assert store.key_names_by_hash() == {"h2": "learn-test", "h4": "learn-prod"}


def test_migrations_are_idempotent(store: Store, store_url: str) -> None:
    latest = migrations(store.dialect)[-1].version
    assert store.schema_version() == latest
    assert store.migrate() == []
    again = open_store(store_url)
    try:
        assert again.migrate() == []
        assert again.query("SELECT count(*) FROM schema_migrations") == [(len(migrations(store.dialect)),)]
    finally:
        again.close()


def test_unmigrated_store_reports_version_zero(store_url: str) -> None:
    fresh = open_store(store_url, migrate=False)
    try:
        assert fresh.schema_version() == 0
        assert fresh.migrate() == [m.label for m in migrations(fresh.dialect)]
    finally:
        fresh.close()


def test_stream_is_bounded(store: Store) -> None:
    n, size = 6000, 4000
    for _i in range(0, n, 2000):
        store.write(synthetic_rows(2000, size))
    tracemalloc.start()
    try:
        seen = 0
        for codec, blob in store.stream("SELECT raw_codec, raw FROM events ORDER BY id"):
            raw = store.decode_raw(codec, blob)
            seen += len(raw)
            # writing while a stream is open must not block or break either side
            if seen == len(raw):
                store.write(synthetic_rows(1, 10, source="during"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen >= n * size
    assert peak < n * size / 4, f"streaming held {peak} bytes"


def test_query_placeholders(store: Store, learn: Batch) -> None:
    store.write(learn.rows)
    rows = store.query(
        "SELECT count(*) FROM event_view WHERE type = ? AND event_time LIKE '2021-01-0%'", ("AssessmentItemEvent",)
    )
    assert rows == [(sum(r.keydata.type == "AssessmentItemEvent" for r in learn.rows),)]
    named = store.query("SELECT count(*) FROM events WHERE source = :src", {"src": "test"})
    assert named == [(len(learn.rows),)]


def test_stats(store: Store, learn: Batch) -> None:
    store.write(learn.rows, [dead_letter(b"{}")])
    store.write(synthetic_rows(3, source="other", day="2021-02-01"))
    s = store.stats()
    assert (s.events, s.dead_letters, s.dead_letters_pending) == (len(learn.rows) + 3, 1, 1)
    assert {c.key: c.count for c in s.by_source} == {"test": len(learn.rows), "other": 3}
    assert s.by_type[0].count >= s.by_type[-1].count
    assert sum(c.count for c in s.by_action) == s.events
    assert s.by_day[-1].key == "2021-02-01"
    assert s.by_day[-1].count == 3
    assert [d.key for d in s.by_day] == sorted(d.key or "" for d in s.by_day)
    newest = {n.source: n.event_time for n in s.newest}
    assert newest["other"] == "2021-02-01T00:00:02.000Z"
    assert newest["test"] == max(r.keydata.event_time or "" for r in learn.rows)


def test_ping(store: Store) -> None:
    store.ping()


def test_unreachable_sqlite_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable):
        open_store(f"sqlite:///{tmp_path / 'missing' / 'x.db'}")


@pytest.mark.postgres
def test_unreachable_postgres_is_unavailable() -> None:
    with pytest.raises(StoreUnavailable):
        open_store("postgresql://127.0.0.1:1/nothing", connect_timeout=2)


def test_unknown_url_is_refused() -> None:
    with pytest.raises(StoreError):
        open_store("mysql://localhost/db")


def test_one_key_one_source(store: Store) -> None:
    store.add_key("learn-prod", "h1")
    with pytest.raises(StoreError, match="already the active key of 'learn-prod'"):
        store.add_key("dupname", "h1")
    assert store.key_names_by_hash() == {"h1": "learn-prod"}
    store.revoke_key("learn-prod")
    store.add_key("dupname", "h1")  # once revoked, the key may serve another name
    assert store.find_key("h1") == "dupname"
