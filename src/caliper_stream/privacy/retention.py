"""Retention: how long each event type is kept, and the run that removes what is older.

Policies live in the ``retention_policies`` table (``*`` is the default for types without
their own). `apply` deletes in bounded batches (one transaction each, so ingest is never held
up for long and an interrupted run simply continues next time).

On PostgreSQL, where ``events`` is partitioned by month, a month whose every event is expired
whatever its type (a ``*`` policy exists and the month ends before the cutoff of the longest
policy) is dropped as a whole partition first (`month_drops`): far cheaper than deleting its
rows, and it leaves no dead tuples to vacuum. The boundary month and the per-type policies
still go through the batched DELETE.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import msgspec

from caliper_stream.ingest import now
from caliper_stream.privacy.audit import record
from caliper_stream.privacy.rewrite import refresh_derived
from caliper_stream.store import partitions
from caliper_stream.store.base import Store
from caliper_stream.store.common import Tx

DEFAULT = "*"
BATCH = 5000


class Policy(msgspec.Struct):
    event_type: str
    days: int
    updated_at: str


class Expiry(msgspec.Struct):
    """What one policy removes (or would remove): events of `event_type` before `cutoff`."""

    event_type: str
    days: int
    cutoff: str
    events: int


def set_policy(store: Store, event_type: str, days: int) -> None:
    if days < 1:
        raise ValueError("a retention period is at least one day")

    def write(tx: Tx) -> None:
        tx.execute("DELETE FROM retention_policies WHERE event_type = ?", (event_type,))
        tx.execute(
            "INSERT INTO retention_policies (event_type, days, updated_at) VALUES (?, ?, ?)", (event_type, days, now())
        )

    store.transact(write)


def remove_policy(store: Store, event_type: str) -> bool:
    return bool(store.transact(lambda tx: tx.execute("DELETE FROM retention_policies WHERE event_type = ?", (event_type,))))


def policies(store: Store) -> list[Policy]:
    rows = store.query("SELECT event_type, days, updated_at FROM retention_policies ORDER BY event_type")
    return [Policy(str(t), int(d), str(u)) for t, d, u in rows]


def _cutoff(at: datetime, days: int) -> str:
    t = at - timedelta(days=days)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def _condition(policy: Policy, others: list[str]) -> tuple[str, list[str]]:
    if policy.event_type != DEFAULT:
        return "type = ?", [policy.event_type]
    if not others:
        return "1 = 1", []
    return f"(type IS NULL OR type NOT IN ({', '.join('?' * len(others))}))", others


class MonthDrop(msgspec.Struct):
    """A month partition that `apply` drops whole (PostgreSQL)."""

    month: str
    partition: str
    events: int


def _droppable(store: Store, found: list[Policy], at: datetime) -> list[str]:
    """The months whose partition holds only expired events: every type has a policy (``*``)
    and the month ends before the earliest cutoff of all policies."""
    if store.dialect != "postgresql" or not any(p.event_type == DEFAULT for p in found):
        return []
    before = _cutoff(at, max(p.days for p in found))[:7]
    return [m for m in store.transact(partitions.months) if m < before]


def month_drops(store: Store, at: datetime | None = None) -> list[MonthDrop]:
    """The month partitions `apply` would drop now (or at `at`), with their events."""
    at = at or datetime.now(UTC)
    out = []
    for month in _droppable(store, policies(store), at):
        table = partitions.table_of(month)
        n = store.query(f"SELECT count(*) FROM {table}")[0][0]
        out.append(MonthDrop(month, table, int(n)))
    return out


def plan(store: Store, at: datetime | None = None) -> list[Expiry]:
    """What `apply` would remove now (or at `at`): one line per policy."""
    at = at or datetime.now(UTC)
    found = policies(store)
    named = [p.event_type for p in found if p.event_type != DEFAULT]
    out = []
    for policy in found:
        cond, params = _condition(policy, named)
        cutoff = _cutoff(at, policy.days)
        n = store.query(f"SELECT count(*) FROM events WHERE {cond} AND event_time < ?", (*params, store.time_key(cutoff)))[0][0]
        out.append(Expiry(policy.event_type, policy.days, cutoff, int(n)))
    return out


def apply(
    store: Store,
    *,
    at: datetime | None = None,
    batch: int = BATCH,
    actor: str = "retention",
    progress: Callable[[Expiry, int], None] | None = None,
) -> list[Expiry]:
    """Remove every event older than its type's policy, `batch` events per transaction; return
    what was removed per policy (recorded in the audit trail)."""
    at = at or datetime.now(UTC)
    found = policies(store)
    named = [p.event_type for p in found if p.event_type != DEFAULT]
    dropped: dict[str, int] = {}
    for month in _droppable(store, found, at):
        def drop(tx: Tx, month: str = month) -> dict[str, int]:
            return partitions.drop(tx, month)

        for type_, n in store.transact(drop).items():
            owner = type_ if type_ in named else DEFAULT
            dropped[owner] = dropped.get(owner, 0) + n
    done = []
    for policy in found:
        cond, params = _condition(policy, named)
        cutoff = _cutoff(at, policy.days)
        removed = dropped.get(policy.event_type, 0)
        if removed and progress is not None:
            progress(Expiry(policy.event_type, policy.days, cutoff, removed), removed)
        while True:
            sql = (
                f"DELETE FROM events WHERE id IN (SELECT id FROM events WHERE {cond} AND event_time < ?"
                " ORDER BY id LIMIT ?)"
            )
            args = (*params, store.time_key(cutoff), batch)

            def delete(tx: Tx, sql: str = sql, args: tuple[object, ...] = args) -> int:
                return tx.execute(sql, args)

            n = store.transact(delete)
            removed += n
            expiry = Expiry(policy.event_type, policy.days, cutoff, removed)
            if progress is not None:
                progress(expiry, n)
            if n < batch:
                break
        done.append(Expiry(policy.event_type, policy.days, cutoff, removed))
    total = sum(e.events for e in done)
    if total:
        refresh_derived(store)
    record(
        store,
        actor,
        "retention",
        f"{total} events older than their retention period",
        {e.event_type: {"days": e.days, "before": e.cutoff, "events": e.events} for e in done},
    )
    return done
