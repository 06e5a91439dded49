"""Migration 0002 on both dialects: stored 1.0 OutcomeEvents become GradeEvents in key data,
with the type as sent kept in ``original_type``; newly stored ones arrive that way."""

from __future__ import annotations

import sqlite3
from typing import Any

import psycopg
import pytest

from caliper_stream.event import decode
from caliper_stream.ingest import prepare
from caliper_stream.read import read_bytes
from caliper_stream.store import open_store
from caliper_stream.store.migrations import SCHEMA_MIGRATIONS_DDL, migrations
from refdata import seed_payloads


def _at_version_1(dialect: str, url: str) -> None:
    """A database as version 0001 left it, holding one OutcomeEvent and one ViewEvent."""
    first = migrations(dialect)[0]
    rows = [("k1", b"{}", "OutcomeEvent", "Graded"), ("k2", b"{}", "ViewEvent", "Viewed")]
    conn: Any
    if dialect == "sqlite":
        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        mark = "?"
    else:
        conn = psycopg.connect(url)
        mark = "%s"
    with conn:
        cur = conn.cursor()
        cur.execute(SCHEMA_MIGRATIONS_DDL)
        for statement in first.statements():
            cur.execute(statement)
        cur.execute(f"INSERT INTO schema_migrations VALUES ({mark}, {mark}, {mark})", (1, first.name, "2026-01-01T00:00:00.000Z"))
        for key, raw, kind, action in rows:
            cur.execute(
                f"INSERT INTO events (event_key, raw, type, action, received_at) VALUES ({mark}, {mark}, {mark}, {mark}, {mark})",
                (key, raw, kind, action, "2026-01-01T00:00:00.000Z"),
            )
    conn.close()


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_stored_outcome_events_are_migrated_to_grade_events(dialect: str, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("sqlite_url" if dialect == "sqlite" else "pg_url")
    _at_version_1(dialect, url)
    store = open_store(url)
    try:
        assert store.schema_version() >= 2
        rows = store.query("SELECT event_key, type, original_type FROM event_view ORDER BY event_key")
        assert [tuple(r) for r in rows] == [("k1", "GradeEvent", "OutcomeEvent"), ("k2", "ViewEvent", None)]
        (payload,) = seed_payloads("outcome-events.md")
        batch = prepare(list(read_bytes(payload)), source="test")
        store.write(batch.rows, batch.dead_letters)
        new = store.query("SELECT type, original_type FROM events WHERE version = ?", ["1.0"])
        assert {tuple(r) for r in new} == {("GradeEvent", "OutcomeEvent")}
        exported = store.query("SELECT COUNT(*) FROM events WHERE type = ?", ["GradeEvent"])[0][0]
        assert exported == 1 + len(new)
        from caliper_stream.store.export import Filters, export_query

        for kind, expected in (("GradeEvent", 1 + len(new)), ("OutcomeEvent", 1 + len(new)), ("ViewEvent", 1)):
            sql, params = export_query("jsonl", "events", Filters(type=kind), store.dialect)
            assert len(store.query(sql, params)) == expected, kind
    finally:
        store.close()


def test_the_event_key_of_an_outcome_event_is_what_it_was() -> None:
    """Canonicalising the key-data type must not re-key stored events (they would be stored twice)."""
    (payload,) = seed_payloads("outcome-events.md")
    event = decode(next(iter(read_bytes(payload))))
    assert event.type == "OutcomeEvent"
    assert event.keydata().type == "GradeEvent"
