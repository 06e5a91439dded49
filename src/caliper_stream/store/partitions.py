"""PostgreSQL month partitions of ``events``: which month an event time belongs to, and the
partitions a store holds.

A partition ``events_YYYY_MM`` holds exactly the event times that begin with ``YYYY-MM``
(migration 0010 explains the bounds); anything else (NULL, or a time that does not begin with
a real month) lives in ``events_default``. The writer creates the months it needs before it
inserts (`PostgresStore`), retention drops the months that are wholly expired
(`caliper_stream.privacy.retention`).
"""

from __future__ import annotations

import re

from caliper_stream.store.common import Tx

DEFAULT = "events_default"
#: Serialises partition creation and drops across processes (``pg_advisory_xact_lock``), per
#: schema: stores in other schemas of the same database never wait for each other.
LOCK = "SELECT pg_advisory_xact_lock(hashtext('caliper_stream.partitions.' || current_schema()))"

_MONTH = re.compile(r"[0-9]{4}-(?:0[1-9]|1[0-2])")


def month_of(event_time: str | None) -> str | None:
    """The ``YYYY-MM`` partition an event time is stored in, or None for the default one."""
    if event_time is None or not _MONTH.match(event_time):
        return None
    return event_time[:7]


def table_of(month: str) -> str:
    if not _MONTH.fullmatch(month):
        raise ValueError(f"not a month (YYYY-MM): {month!r}")
    return "events_" + month.replace("-", "_")


def months(tx: Tx) -> list[str]:
    """The months that have a partition, oldest first."""
    rows = tx.fetchall(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = to_regclass('events') ORDER BY c.relname"
    )
    return [f"{n[7:11]}-{n[12:14]}" for (n,) in rows if n != DEFAULT]


def drop(tx: Tx, month: str) -> dict[str, int]:
    """Detach and drop one month's partition and release its event keys; return its event
    counts per type ('' for none). Bumps what the DELETE triggers would have bumped (a DROP fires
    none), so the gradebook and the summaries rebuild."""
    tx.execute(LOCK)
    table = table_of(month)
    if not tx.fetchall("SELECT to_regclass(?)", (table,))[0][0]:
        return {}  # a concurrent run dropped it
    counts = {str(t or ""): int(n) for t, n in tx.fetchall(f"SELECT type, count(*) FROM {table} GROUP BY type")}
    tx.execute(f"DELETE FROM event_keys k USING {table} p WHERE k.event_key = p.event_key")
    tx.execute(f"ALTER TABLE events DETACH PARTITION {table}")
    tx.execute(f"DROP TABLE {table}")
    tx.execute("UPDATE gb_state SET generation = generation + 1")
    tx.execute("UPDATE an_state SET dirty = 1 WHERE dirty = 0")
    return counts
