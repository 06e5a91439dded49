"""Migration 0014 (per-item statistics, ``gb_items``) on a database whose gradebook cells were
kept before it: the next refresh folds every course again, so the kept statistics exist and
give the grade distribution of a store that always had them."""

from __future__ import annotations

from pathlib import Path

import pytest
from storekit import learn_batch, raw_connection, schema_before

from caliper_stream.analyse.gradebook import grade_distribution
from caliper_stream.store import open_store
from caliper_stream.store.common import ROW_COLUMNS, row_values


@pytest.mark.parametrize("dialect", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_item_statistics_are_built_on_the_first_refresh(dialect: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    rows = learn_batch().rows
    url = f"sqlite:///{tmp_path / 'old.db'}" if dialect == "sqlite" else request.getfixturevalue("pg_url")
    schema_before(url, 14)
    conn, mark = raw_connection(url)
    with conn:
        cur = conn.cursor()
        cur.executemany(
            f"INSERT INTO events ({', '.join(ROW_COLUMNS)}) VALUES ({', '.join([mark] * len(ROW_COLUMNS))})",
            [row_values(r, lambda raw: (None, raw)) for r in rows],
        )
        cur.execute(f"UPDATE gb_state SET high_water = {len(rows)}, built_generation = generation")  # said to be built
    conn.close()
    with open_store(url) as migrated, open_store(f"sqlite:///{tmp_path / 'fresh.db'}") as fresh:
        assert migrated.schema_version() >= 14
        fresh.write(rows)
        expected = grade_distribution(fresh)
        assert expected
        assert grade_distribution(migrated) == expected
        assert migrated.query("SELECT count(*) FROM gb_items")[0][0] == len(expected)
