"""Compressed raw bytes (store/codec.py) on both backends: every byte comes back exactly, through
the store, export and dead-letter replay, whichever dictionary (or none) a row was stored with."""

from __future__ import annotations

import io
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from storekit import dead_letter, learn_batch, raw_connection, schema_before

from caliper_stream.analyse.gradebook import gradebook_cell
from caliper_stream.analyse.summary import refresh
from caliper_stream.ingest import Batch, Row, now, prepare
from caliper_stream.keydata import KeyData
from caliper_stream.privacy.forget import forget
from caliper_stream.read import read_path
from caliper_stream.store import Store, open_store
from caliper_stream.store.codec import compress_stored, retrain
from caliper_stream.store.common import SQLStore
from caliper_stream.store.export import export
from caliper_stream.store.replay import replay_one


@pytest.fixture(scope="module")
def term(tmp_path_factory: pytest.TempPathFactory) -> Batch:
    """~800 simulated Learn events (two courses, three days)."""
    out = tmp_path_factory.mktemp("term") / "term.jsonl"
    subprocess.run(
        [sys.executable, "-m", "caliper_stream", "simulate", "--courses", "2", "--students", "30", "--days", "3",
         "--seed", "1", "--out", str(out)],
        check=True, capture_output=True, timeout=120,
    )
    batch = prepare(read_path(out), source="term")
    assert not batch.dead_letters
    unique = list({r.event_key: r for r in reversed(batch.rows)}.values())[::-1]  # Learn redelivers some
    assert len(unique) > 700
    return Batch(sorted(unique, key=batch.rows.index))


@pytest.fixture
def small(store_url: str) -> Iterator[SQLStore]:
    """A store that trains its first dictionary after 300 events."""
    s = open_store(store_url)
    assert isinstance(s, SQLStore)
    s.codec.train_after = 300
    try:
        yield s
    finally:
        s.close()


def stored(store: Store) -> dict[str, tuple[int | None, bytes]]:
    """Every event's key → (dictionary, exact bytes) as the store reads them."""
    rows = store.query("SELECT event_key, raw_codec, raw FROM event_view")
    return {k: (c, store.decode_raw(c, blob)) for k, c, blob in rows}


def exported(store: Store) -> list[bytes]:
    """The export as lines, sorted (PostgreSQL numbers the rows of one batch in no set order)."""
    out = io.BytesIO()
    export(store, out)
    return sorted(out.getvalue().splitlines())


def row(raw: bytes) -> Row:
    key = uuid.uuid4().hex
    return Row(key, raw, KeyData(event_key=key, type="ViewEvent", event_time="2026-01-12T10:00:00.000Z"), "test", now())


def test_a_dictionary_is_trained_once_enough_events_are_stored(small: SQLStore, term: Batch) -> None:
    rows = term.rows
    small.write(rows[:200])
    assert small.query("SELECT count(*) FROM dictionaries")[0][0] == 0
    assert {c for c, _ in stored(small).values()} == {None}
    small.write(rows[200:400])
    (dictionary,) = small.query("SELECT id, trained_on, ratio, length(dictionary) FROM dictionaries")
    assert dictionary[1] >= 250
    assert dictionary[2] > 3
    small.write(rows[400:])
    back = stored(small)
    # the rows it was trained from were compressed too: nothing is left plain
    assert {c for c, _ in back.values()} == {dictionary[0]}
    assert {k: raw for k, (_, raw) in back.items()} == {r.event_key: r.raw for r in rows}
    size = small.query("SELECT sum(length(raw)) FROM events")[0][0]
    assert size * 4 < sum(len(r.raw) for r in rows)
    assert exported(small) == sorted(r.raw for r in rows)  # Learn's events are one line each


def test_a_write_that_crosses_the_threshold_is_stored_compressed(small: SQLStore, term: Batch) -> None:
    """An import writes 50,000 events per transaction: a fresh store trains from them before
    inserting, so none of them stays plain."""
    rows = term.rows
    small.write(rows[:100])
    small.write(rows[100:])  # 100 stored, 700 pending: the threshold is 300
    (dictionary,) = small.query("SELECT id, trained_on FROM dictionaries")
    assert dictionary[1] >= 250
    back = stored(small)
    assert {c for c, _ in back.values()} == {dictionary[0]}
    assert {k: raw for k, (_, raw) in back.items()} == {r.event_key: r.raw for r in rows}
    assert exported(small) == sorted(r.raw for r in rows)


def test_two_dictionary_generations_and_plain_rows_read_back(term: Batch, store_url: str) -> None:
    rows = term.rows
    plain = open_store(store_url, compression=False)
    plain.write(rows[:300])
    plain.close()
    small = open_store(store_url)
    assert isinstance(small, SQLStore)
    small.codec.train_after = 100
    small.write(rows[300:400])  # trained on the newest 100, compressing the newest 200
    first = small.codec.current
    small.write(rows[400:550])
    second = small.transact(lambda tx: tx.codec.train(tx))  # as when the stream drifts
    assert second is not None
    assert first is not None
    assert second.id > first
    small.write(rows[550:])
    codecs = {c for c, _ in stored(small).values()}
    assert codecs == {None, first, second.id}
    small.close()
    again = open_store(store_url)  # a new process knows none of them yet
    try:
        assert {k: raw for k, (_, raw) in stored(again).items()} == {r.event_key: r.raw for r in rows}
        assert exported(again) == sorted(r.raw for r in rows)
        plain = again.query("SELECT count(*) FROM events WHERE raw_codec IS NULL")[0][0]
        assert 150 < plain <= 300
        assert compress_stored(again, batch=30) == plain
        assert {c for c, _ in stored(again).values()} == {first, second.id}
        assert exported(again) == sorted(r.raw for r in rows)
        assert compress_stored(again) == 0
    finally:
        again.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raws=st.lists(st.binary(min_size=0, max_size=6000), min_size=1, max_size=8))
def test_any_bytes_round_trip_exactly(trained: SQLStore, raws: list[bytes]) -> None:
    rows = [row(raw) for raw in raws]
    trained.write(rows)
    back = stored(trained)
    for r in rows:
        codec, raw = back[r.event_key]
        assert raw == r.raw
        assert codec == trained.codec.current


@pytest.fixture
def trained(store_url: str, term: Batch) -> Iterator[SQLStore]:
    s = open_store(store_url)
    assert isinstance(s, SQLStore)
    s.codec.train_after = 300
    s.write(term.rows[:400])
    assert s.codec.current is not None
    try:
        yield s
    finally:
        s.close()


def test_huge_and_empty_events_round_trip(trained: SQLStore) -> None:
    huge = b'{"id": "x", "blob": "' + bytes(range(256)) * 20_000 + b'"}'  # 5 MB, not UTF-8
    rows = [row(huge), row(b""), row(b"\x00"), row(b"\xff\xfe{")]
    trained.write(rows)
    back = stored(trained)
    assert [back[r.event_key][1] for r in rows] == [r.raw for r in rows]


def test_a_replayed_dead_letter_is_exported_byte_for_byte(trained: SQLStore, term: Batch) -> None:
    fresh = term.rows[-1]  # not stored yet
    trained.write([], [dead_letter(fresh.raw, source="term")])
    (letter,) = trained.list_dead_letters()
    assert letter.raw == fresh.raw
    assert replay_one(trained, letter, strict=False).ok
    assert fresh.raw in exported(trained)
    assert stored(trained)[fresh.event_key] == (trained.codec.current, fresh.raw)


def test_a_dictionary_of_a_rolled_back_transaction_is_never_used(small: SQLStore, term: Batch) -> None:
    small.write(term.rows[:300])
    first = small.codec.current

    def train_then_fail(tx: Any) -> None:
        tx.codec.train(tx)
        raise RuntimeError("the transaction fails after training")

    with pytest.raises(RuntimeError):
        small.transact(train_then_fail)
    assert [r[0] for r in small.query("SELECT id FROM dictionaries")] == [first]
    small.write(term.rows[300:])
    assert {c for c, _ in stored(small).values()} == {first}
    assert exported(small) == sorted(r.raw for r in term.rows)


def test_compression_off_stores_plain_bytes(store_url: str, term: Batch) -> None:
    s = open_store(store_url, compression=False)
    try:
        s.write(term.rows)
        assert s.query("SELECT count(*) FROM dictionaries")[0][0] == 0
        assert {c for c, _ in stored(s).values()} == {None}
        assert compress_stored(s) == 0
    finally:
        s.close()


def _at_version_8(dialect: str, url: str, rows: list[Row]) -> None:
    """A database as the migrations before compression left it, holding plain rows."""
    schema_before(url, 9)
    conn, mark = raw_connection(url)
    with conn:
        cur = conn.cursor()
        for r in rows:
            cur.execute(
                f"INSERT INTO events (event_key, raw, type, event_time, received_at) VALUES ({mark}, {mark}, {mark}, {mark}, {mark})",
                (r.event_key, r.raw, r.keydata.type, r.keydata.event_time, r.received_at),
            )
        cur.execute(f"INSERT INTO an_members VALUES ({mark}, {mark}, {mark}, {mark}, {mark})", ("course", "C-1", "", "u", "someone"))
    conn.close()


@pytest.mark.parametrize("dialect", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_a_database_of_plain_rows_migrates_without_rewriting(
    dialect: str, request: pytest.FixtureRequest, term: Batch, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}" if dialect == "sqlite" else request.getfixturevalue("pg_url")
    old, new = term.rows[:350], term.rows[350:]
    _at_version_8(dialect, url, old)
    s = open_store(url)
    try:
        assert s.schema_version() >= 9
        # 0009 kept the text members; 0012 replaces them by 16-byte keys and lets the summaries rebuild
        assert s.query("SELECT count(*) FROM an_members")[0][0] == 0
        assert s.query("SELECT dirty FROM an_state")[0][0] == 1
        assert {c for c, _ in stored(s).values()} == {None}
        assert exported(s) == sorted(r.raw for r in old)
        assert isinstance(s, SQLStore)
        s.codec.train_after = 200  # the 350 stored count: trained at once
        s.write(new)
        codecs = [c for c, _ in stored(s).values()]
        assert s.codec.current in codecs
        assert None in codecs
        assert exported(s) == sorted(r.raw for r in term.rows)
        compress_stored(s)
        assert {c for c, _ in stored(s).values()} == {s.codec.current}
        assert exported(s) == sorted(r.raw for r in term.rows)
    finally:
        s.close()


def test_analytics_and_the_gradebook_read_compressed_rows_as_plain_ones(store_url: str, term: Batch, tmp_path: Path) -> None:
    """LTI launches (analytics) and a grade's scoredBy (gradebook history) come from raw bytes."""
    grades = [r for r in learn_batch("grade-events.json").rows if b"scoredBy" in r.raw]
    rows = term.rows + grades
    seen = []
    for url, compression in ((f"sqlite:///{tmp_path / 'plain.db'}", False), (store_url, True)):
        s = open_store(url, compression=compression)
        assert isinstance(s, SQLStore)
        s.codec.train_after = 300
        try:
            for i in range(0, len(rows), 100):
                s.write(rows[i : i + 100])
            if compression:
                assert {c for c, _ in stored(s).values()} == {s.codec.current}
            refresh(s)
            lti = sorted(tuple(r) for r in s.query("SELECT * FROM an_lti"))
            g = grades[0].keydata
            cell = gradebook_cell(s, g.course_number or "", g.user_uuid or "", g.gradable_item_pk or "")
            seen.append((lti, cell))
        finally:
            s.close()
    assert seen[0][0]  # the term launches tools
    assert seen[0][1] is not None
    assert any(change.get("who") for change in seen[0][1]["history"])
    assert seen[0] == seen[1]


def test_retrain_replaces_every_dictionary(small: SQLStore, term: Batch) -> None:
    rows = term.rows
    for i in range(0, len(rows), 200):
        small.write(rows[i : i + 200])
    first = small.codec.current
    assert retrain(small, containing=[b"no such bytes anywhere"]) == 0
    assert retrain(small, batch=100) == len(rows)
    (only,) = small.query("SELECT id FROM dictionaries")
    assert only[0] == small.codec.current != first
    assert {c for c, _ in stored(small).values()} == {only[0]}
    assert exported(small) == sorted(r.raw for r in rows)
    small.write([row(b'{"after": "retrain"}')])
    assert b'{"after": "retrain"}' in exported(small)


def test_forget_leaves_the_person_in_no_dictionary(small: SQLStore, term: Batch) -> None:
    for i in range(0, len(term.rows), 200):
        small.write(term.rows[i : i + 200])
    counts: dict[str, int] = {}
    for r in term.rows:
        if r.keydata.user_uuid:
            counts[r.keydata.user_uuid] = counts.get(r.keydata.user_uuid, 0) + 1
    person = max(counts, key=counts.__getitem__)
    (before,) = small.query("SELECT dictionary FROM dictionaries")
    assert person.encode() in bytes(before[0])  # the busiest student is in the dictionary
    forget(small, person, actor="test", vacuum=False)
    dictionaries = [bytes(d) for (d,) in small.query("SELECT dictionary FROM dictionaries")]
    assert dictionaries
    assert not any(person.encode() in d for d in dictionaries)
    assert not any(person.encode() in raw for _, raw in stored(small).values())


def test_db_compress_command(sqlite_url: str, term: Batch) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "caliper_stream", *args], capture_output=True, text=True, timeout=120, check=False
        )

    done = cli("db", "compress", "--db", sqlite_url)
    assert done.returncode == 0, done.stderr
    assert "nothing compressed" in done.stdout  # an empty store has nothing to train on
    for rows in (term.rows[:300], term.rows[300:400]):
        plain = open_store(sqlite_url, compression=False)
        plain.write(rows)
        plain.close()
        done = cli("db", "compress", "--db", sqlite_url, "--batch", "30")
        assert done.returncode == 0, done.stderr
        assert f"{len(rows)} events compressed (dictionary 1)" in done.stdout
    again = open_store(sqlite_url)
    try:
        assert {c for c, _ in stored(again).values()} == {1}
        assert exported(again) == sorted(r.raw for r in term.rows[:400])
    finally:
        again.close()


def test_too_few_or_odd_events_train_nothing_and_lose_nothing(small: SQLStore) -> None:
    written: list[Row] = []
    # too few samples to train on, then 1-byte samples zstd may refuse to train on
    for train_after, rows in ((20, [row(b"x") for _ in range(40)]), (150, [row(bytes([i])) for i in range(200)])):
        small.codec.train_after = train_after
        for i in range(0, len(rows), 10):
            small.write(rows[i : i + 10])
        written += rows
    assert {k: raw for k, (_, raw) in stored(small).items()} == {r.event_key: r.raw for r in written}
