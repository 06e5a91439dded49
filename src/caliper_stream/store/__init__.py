"""Event stores behind one small protocol; `open_store` picks the backend from the URL.

URLs::

    sqlite:///relative/path.db          (relative to the working directory; the default)
    sqlite:////absolute/path.db
    sqlite:///events.db?durability=full (fsync every commit: survives power loss)
    postgresql://user@host:5432/dbname?options=-c%20search_path%3Dcaliper

Opening a store applies pending schema migrations, so a new database needs no setup.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from caliper_stream.errors import StoreError
from caliper_stream.store.base import (
    ApiKey,
    Count,
    Newest,
    Stats,
    Store,
    StoredDeadLetter,
    WriteResult,
)

__all__ = [
    "DEFAULT_DB_URL",
    "ENV_VAR",
    "ApiKey",
    "Count",
    "Newest",
    "Stats",
    "Store",
    "StoredDeadLetter",
    "WriteResult",
    "default_db_url",
    "open_store",
    "redact",
]

ENV_VAR = "CALIPER_STREAM_DB"
DEFAULT_DB_URL = "sqlite:///caliper-stream.db"


def default_db_url(option: str | None = None) -> str:
    """The database to use: ``--db`` if given, else ``$CALIPER_STREAM_DB``, else
    ``caliper-stream.db`` in the working directory."""
    return option or os.environ.get(ENV_VAR) or DEFAULT_DB_URL


def redact(url: str) -> str:
    """The URL with any password replaced, for messages and logs."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url


def sqlite_path(url: str) -> tuple[str, dict[str, str]]:
    """The file path and options of a ``sqlite:///`` URL."""
    rest = url[len("sqlite://") :]
    rest, _, query = rest.partition("?")
    if not rest.startswith("/") or rest == "/":
        raise StoreError(f"bad SQLite URL {url!r}: expected sqlite:///relative.db or sqlite:////abs/path.db")
    return rest[1:], dict(parse_qsl(query))


def open_store(url: str | None = None, *, migrate: bool = True, **options: Any) -> Store:
    """Open (and migrate) the store a URL names; `options` go to the backend
    (SQLite: ``durability``, ``busy_timeout``; PostgreSQL: ``connect_timeout``)."""
    url = default_db_url(url)
    scheme = url.split(":", 1)[0].lower()
    if scheme == "sqlite":
        from caliper_stream.store.sqlite import SQLiteStore

        path, query = sqlite_path(url)
        kwargs: dict[str, Any] = {}
        if "durability" in query:
            kwargs["durability"] = query["durability"]
        if "busy_timeout" in query:
            kwargs["busy_timeout"] = float(query["busy_timeout"])
        kwargs.update(options)
        return SQLiteStore(url, path, migrate=migrate, **kwargs)
    if scheme in ("postgresql", "postgres"):
        from caliper_stream.store.postgres import PostgresStore

        return PostgresStore(url, migrate=migrate, **options)
    raise StoreError(f"unsupported database URL {redact(url)!r}: use sqlite:///path.db or postgresql://…")
