"""Small helpers shared by the reports: filters and rows as dicts."""

from __future__ import annotations

from typing import Any

from caliper_stream.store.base import Store


def where(clauses: list[str], params: list[Any], column: str, value: Any, op: str = "=") -> None:
    """Add ``column op ?`` to a WHERE clause list when `value` is given."""
    if value is not None:
        clauses.append(f"{column} {op} ?")
        params.append(value)


def rows(store: Store, sql: str, params: list[Any], names: list[str]) -> list[dict[str, Any]]:
    return [dict(zip(names, r, strict=True)) for r in store.query(sql, params)]


def user_key() -> str:
    """The identity of a user across events: Learn's uuid, else its pk1."""
    return "COALESCE(user_uuid, user_pk, actor_id)"
