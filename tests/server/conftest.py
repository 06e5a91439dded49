"""Fixtures: a SQLite-backed server per module (with its key and a client), PostgreSQL schemas."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from harness import Site, pg_schema_url, start_site


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("server")
    yield from start_site(f"sqlite:///{tmp / 'events.db'}", tmp, "--key-cache-seconds", "0")


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    yield from pg_schema_url()
