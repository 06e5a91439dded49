"""Reading what a database really holds: SQLite file bytes (WAL included), PostgreSQL table
contents through the server."""

from __future__ import annotations

from pathlib import Path

import psycopg


def sqlite_bytes(url: str) -> bytes:
    """The bytes of the database file and of its WAL, shared-memory and journal files, and of
    its inbox file (request bodies waiting for the digest) and that file's WAL."""
    path = Path(url.removeprefix("sqlite:///"))
    out = b""
    for suffix in ("", "-wal", "-shm", "-journal", "-inbox", "-inbox-wal"):
        f = Path(str(path) + suffix)
        if f.exists():
            out += f.read_bytes()
    return out


def postgres_bytes(url: str) -> bytes:
    """Every value of every table in the URL's schema (bytea as its bytes, the rest as text)."""
    out = bytearray()
    with psycopg.connect(url) as conn:
        tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")]
        assert "events" in tables
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                for value in row:
                    out += value if isinstance(value, bytes | memoryview) else str(value).encode()
                    out += b"\n"
    return bytes(out)


def database_bytes(url: str) -> bytes:
    return sqlite_bytes(url) if url.startswith("sqlite") else postgres_bytes(url)
