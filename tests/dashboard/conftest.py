"""Fixtures: the dashboard's store and server on SQLite and PostgreSQL (see `dashkit`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dashkit import Dash, serve

from server.harness import pg_schema_url


@pytest.fixture(scope="session")
def dash(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dash]:
    tmp = tmp_path_factory.mktemp("dashboard")
    yield from serve(f"sqlite:///{tmp / 'events.db'}", tmp)


@pytest.fixture(scope="module")
def pg_dash(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dash]:
    tmp = tmp_path_factory.mktemp("dashboard-pg")
    for url in pg_schema_url():
        yield from serve(url, tmp)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty store on each backend (PostgreSQL: a fresh schema, dropped afterwards)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'events.db'}"
    else:
        yield from pg_schema_url()
