"""The audit trail: reads of personal data (the dashboard and API call `record`), erasures,
retention runs and privacy changes. A record names the actor (API key name or operator) and
what was done, never the person it was about."""

from __future__ import annotations

from typing import Any

import msgspec

from caliper_stream.ingest import now
from caliper_stream.store.base import Store

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


class AuditRecord(msgspec.Struct):
    id: int
    at: str
    actor: str
    action: str
    what: str
    detail: dict[str, Any] | None = None


def record(store: Store, actor: str, action: str, what: str, detail: dict[str, Any] | None = None) -> None:
    """Append one record (its own transaction, so it is durable whatever the caller does next).

    ``action`` is a short verb such as ``read``, ``forget``, ``retention``, ``privacy.enable``;
    ``what`` says what was read or removed (``gradebook BIO-101``, ``3 events``)."""
    text = _encode(detail).decode() if detail is not None else None
    store.transact(
        lambda tx: tx.execute(
            "INSERT INTO audit (at, actor, action, what, detail) VALUES (?, ?, ?, ?, ?)",
            (now(), actor, action, what, text),
        )
    )


def records(
    store: Store, *, limit: int = 100, action: str | None = None, actor: str | None = None, since: str | None = None
) -> list[AuditRecord]:
    """The newest records first, filtered by action, actor and time (``since`` ISO 8601)."""
    clauses, params = [], []
    for column, value, op in (("action", action, "="), ("actor", actor, "="), ("at", since, ">=")):
        if value is not None:
            clauses.append(f"{column} {op} ?")
            params.append(value)
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = store.query(
        f"SELECT id, at, actor, action, what, detail FROM audit{where} ORDER BY id DESC LIMIT ?", (*params, limit)
    )
    return [AuditRecord(int(r[0]), r[1], r[2], r[3], r[4], _decode(r[5]) if r[5] else None) for r in rows]
