"""Test data for the store tests: the Learn samples and synthetic rows."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

from caliper_stream.ingest import Batch, DeadLetter, Row, now, prepare
from caliper_stream.keydata import KeyData
from caliper_stream.problems import Problem
from caliper_stream.read import read_path

ROOT = Path(__file__).resolve().parents[2]
LEARN = Path(os.environ.get("CALIPER_SHARED", ROOT.parent / "shared")) / "fixtures" / "blackboard-learn-docs" / "v1p1"


def learn_batch(name: str = "", source: str = "test") -> Batch:
    """The Learn samples (all, or one file) prepared for the store."""
    return prepare(read_path(LEARN / name if name else LEARN), source=source)


def synthetic_rows(n: int, size: int = 200, source: str = "synthetic", day: str = "2021-01-05") -> list[Row]:
    """`n` distinct rows whose raw bytes are about `size` bytes (the store does not parse raw)."""
    rows = []
    for i in range(n):
        key = uuid.uuid4().hex
        raw = b'{"id": "%s", "pad": "%s"}' % (key.encode(), b"x" * size)
        kd = KeyData(event_key=key, type="ViewEvent", action="Viewed", event_time=f"{day}T00:00:{i % 60:02d}.000Z")
        rows.append(Row(key, raw, kd, source, now()))
    return rows


def dead_letter(raw: bytes, message: str = "broken", source: str = "test") -> DeadLetter:
    return DeadLetter(raw, [Problem("data[0]", message, 0)], source, now())


def raw_connection(url: str) -> tuple[Any, str]:
    """A driver connection to a store URL, bypassing the store (to build a database as an older
    version left it), and its parameter mark."""
    import sqlite3

    import psycopg

    if url.startswith("sqlite"):
        return sqlite3.connect(url.removeprefix("sqlite:///")), "?"
    return psycopg.connect(url), "%s"


def schema_before(url: str, version: int) -> None:
    """Create the schema as the migrations before `version` left it (to test a migration on an
    existing database): SQLite file or PostgreSQL schema, named by a store URL."""
    from caliper_stream.store.migrations import SCHEMA_MIGRATIONS_DDL, migrations

    dialect = "sqlite" if url.startswith("sqlite") else "postgresql"
    conn, mark = raw_connection(url)
    try:
        with conn:
            cur = conn.cursor()
            cur.execute(SCHEMA_MIGRATIONS_DDL)
            for mig in migrations(dialect):
                if mig.version >= version:
                    break
                for statement in mig.statements():
                    cur.execute(statement)
                cur.execute(f"INSERT INTO schema_migrations VALUES ({mark}, {mark}, {mark})", (mig.version, mig.name, now()))
    finally:
        conn.close()

