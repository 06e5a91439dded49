"""Store fixtures: every contract test runs against a real SQLite file and a real PostgreSQL.

PostgreSQL: ``$CALIPER_STREAM_TEST_PG`` (default ``postgresql://127.0.0.1:5432/test``). Each
test gets a schema of its own (``search_path`` set through the URL's ``options``), dropped
afterwards. When the server is unreachable the PostgreSQL cases are skipped locally and fail
in CI (``CI=true``), so that a broken CI database can never pass silently.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from storekit import learn_batch

from caliper_stream.ingest import Batch
from caliper_stream.store import Store, open_store

PG_URL = os.environ.get("CALIPER_STREAM_TEST_PG", "postgresql://127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in ("true", "1", "yes")


def _pg_reachable() -> str | None:
    try:
        with psycopg.connect(PG_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0]
    return None


def require_postgres() -> None:
    problem = _pg_reachable()
    if problem is not None:
        message = f"PostgreSQL at {PG_URL} is unreachable ({problem})"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message + "; set CALIPER_STREAM_TEST_PG or start the server")


def with_search_path(url: str, schema: str) -> str:
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options={quote(f'-c search_path={schema}')}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose tables live in a fresh schema of their own."""
    require_postgres()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield with_search_path(PG_URL, schema)
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'events.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'events.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = open_store(store_url)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture(scope="session")
def learn() -> Batch:
    return learn_batch()
