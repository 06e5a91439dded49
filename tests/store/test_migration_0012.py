"""Migration 0012 (an_members keyed by 16 bytes) on a database the earlier migrations left, with
summaries already built from text members: after it, the summaries rebuild to exactly the figures
of a store that never had text members."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from storekit import learn_batch, raw_connection, schema_before

from caliper_stream.analyse.summary import member_key, refresh
from caliper_stream.ingest import Row
from caliper_stream.store import Store, open_store
from caliper_stream.store.common import ROW_COLUMNS, row_values

SUMMARY = "SELECT kind, course_number, bucket, events, users, sessions, days FROM an_counts ORDER BY 1, 2, 3"


def _at_version_11(dialect: str, url: str, rows: list[Row]) -> None:
    """Events as 0011 stored them, and summaries said to be built, with a text member."""
    schema_before(url, 12)
    conn, mark = raw_connection(url)
    with conn:
        cur = conn.cursor()
        cur.executemany(
            f"INSERT INTO events ({', '.join(ROW_COLUMNS)}) VALUES ({', '.join([mark] * len(ROW_COLUMNS))})",
            [row_values(r, lambda raw: (None, raw)) for r in rows],
        )
        cur.execute(f"INSERT INTO an_members VALUES ({mark}, {mark}, {mark}, {mark}, {mark})", ("course", "C-1", "", "u", "someone"))
        cur.execute(f"INSERT INTO an_counts VALUES ({', '.join([mark] * 9)})", ("course", "C-1", "", 1, 1, 0, 1, "x", "x"))
        cur.execute(f"UPDATE an_state SET high_water = {len(rows)}")
    conn.close()


def _summary(store: Store) -> list[tuple[Any, ...]]:
    refresh(store)
    return [tuple(r) for r in store.query(SUMMARY)]


@pytest.mark.parametrize("dialect", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_members_rebuild_to_the_same_figures(dialect: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    rows = learn_batch().rows
    url = f"sqlite:///{tmp_path / 'old.db'}" if dialect == "sqlite" else request.getfixturevalue("pg_url")
    _at_version_11(dialect, url, rows)
    # the fresh store is a SQLite file for both: the figures are the same on every backend
    with open_store(url) as migrated, open_store(f"sqlite:///{tmp_path / 'fresh.db'}") as fresh:
        assert migrated.schema_version() >= 12
        assert migrated.query("SELECT dirty FROM an_state")[0][0] == 1
        fresh.write(rows)
        expected = _summary(fresh)
        assert ("course", "C-1", "", 1, 1, 0, 1) not in expected
        assert any(r[4] for r in expected)  # distinct users were counted
        assert _summary(migrated) == expected
        keys = {bytes(k) for (k,) in migrated.query("SELECT key FROM an_members")}
        assert keys == {bytes(k) for (k,) in fresh.query("SELECT key FROM an_members")}
        assert all(len(k) == 16 for k in keys)


def test_member_keys_group_a_groups_members() -> None:
    """The first 8 bytes name the group, so one group's members sit together in the key order."""
    a = member_key(("day", "C-1", "2026-01-05", "u", "alice"))
    b = member_key(("day", "C-1", "2026-01-05", "s", "https://example.edu/sessions/1"))
    c = member_key(("day", "C-1", "2026-01-06", "u", "alice"))
    assert a[:8] == b[:8] != c[:8]
    assert len({a, b, c}) == 3
    assert member_key(("day", "C-1", "2026-01-05", "u", "alice")) == a
