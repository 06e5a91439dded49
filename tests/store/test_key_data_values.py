"""Every string JSON allows is storable as key data on both backends (NUL, any length), the
same way on both; migration 0003 bounds what databases stored before."""

from __future__ import annotations

import uuid

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from caliper_stream.ingest import Batch, Row, now
from caliper_stream.keydata import KeyData
from caliper_stream.store import Store, open_store
from caliper_stream.store.common import INDEXED_CHARS, NUL_REPLACEMENT, bounded

# any JSON string: every code point but lone surrogates, NUL and long runs included
json_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=40) | st.builds(
    lambda c, n: c * n, st.sampled_from(["\x00", "é", "𝐓", "A"]), st.integers(0, 4000)
)


def row_with(actor: str, action: str, course: str) -> Row:
    key = uuid.uuid4().hex
    raw = msgspec.json.encode({"id": key, "actor": actor, "action": action, "course": course})
    kd = KeyData(event_key=key, type="ViewEvent", action=action, actor_id=actor, course_number=course,
                 event_time="2021-01-05T00:00:00.000Z")
    return Row(key, raw, kd, "test", now())


def expected(value: str, indexed: bool) -> str:
    value = value.replace("\x00", NUL_REPLACEMENT)
    return bounded(value) if indexed else value


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(actor=json_text, action=json_text, course=json_text)
def test_any_json_string_is_storable_and_read_back_alike(store: Store, actor: str, action: str, course: str) -> None:
    row = row_with(actor, action, course)
    [result] = store.write_batches([Batch([row])])
    assert result.accepted == 1
    [(a, act, c, raw)] = store.query(
        "SELECT actor_id, action, course_number, raw FROM event_view WHERE event_key = ?", (row.event_key,)
    )
    assert a == expected(actor, indexed=False)
    assert act == expected(action, indexed=True)
    assert c == expected(course, indexed=True)
    assert bytes(raw) == row.raw


def test_migration_0003_bounds_values_stored_before(store_url: str) -> None:
    store = open_store(store_url)
    try:
        long_action = "B" * (INDEXED_CHARS + 100)  # storable before on both (under 2,704 bytes)
        row = row_with("actor", "Viewed", "C-1")
        store.write_batches([Batch([row])])
        # as a database written before 0003: an unbounded value, and 0003 not applied
        with store._write_lock, store._transaction() as cur:  # type: ignore[attr-defined]
            cur.execute(store._sql("UPDATE events SET action = ? WHERE id = (SELECT id FROM event_view WHERE event_key = ?)"),  # type: ignore[attr-defined]
                        (long_action, row.event_key))
            cur.execute("DELETE FROM schema_migrations WHERE version = 3")
    finally:
        store.close()
    with open_store(store_url) as again:
        [(action,)] = again.query("SELECT action FROM event_view WHERE event_key = ?", (row.event_key,))
        assert action == bounded(long_action)
        assert again.query("SELECT count(*) FROM schema_migrations WHERE version = 3") == [(1,)]


@pytest.mark.parametrize("value", ["x" * INDEXED_CHARS, "x" * (INDEXED_CHARS + 1)])
def test_bounded_keeps_short_values_and_marks_cut_ones(value: str) -> None:
    want = value if len(value) <= INDEXED_CHARS else value[:INDEXED_CHARS] + "…"
    assert bounded(value) == want
