"""Migration 0013 (the PostgreSQL inbox records each body's size and counts its backlog from an
index) on a database 0012 left with bodies waiting: the backlog figures stay those counted from
the bodies themselves, for the rows already there, for new ones and for rows a server of the
previous version still inserts without a size."""

from __future__ import annotations

import psycopg
import pytest
from storekit import schema_before
from test_inbox_store import body, digest

from caliper_stream.store import open_store
from caliper_stream.store.base import Backlog, Claim, Inboxed

pytestmark = pytest.mark.postgres

#: The backlog as the store counted it before 0013: straight from the bodies.
DIRECT = "SELECT count(*), coalesce(sum(events), 0), coalesce(sum(length(body)), 0) FROM inbox"
OLD_INSERT = "INSERT INTO inbox (body, source, received_at, content_type, events) VALUES (%s, 'learn', %s, '', %s)"


def _direct(url: str) -> Backlog:
    with psycopg.connect(url) as conn:
        row = conn.execute(DIRECT).fetchone()
    assert row is not None
    return Backlog(*(int(v) for v in row))


def test_waiting_bodies_keep_their_backlog_across_0013(pg_url: str) -> None:
    schema_before(pg_url, 13)
    old = [body(f"old{i}", n=i + 1) for i in range(4)]
    with psycopg.connect(pg_url) as conn:
        conn.cursor().executemany(OLD_INSERT, [(b, "2026-01-01T00:00:00.000Z", i + 1) for i, b in enumerate(old)])
    before = _direct(pg_url)
    assert before == Backlog(4, 10, sum(len(b) for b in old))

    with open_store(pg_url) as store:
        assert store.schema_version() >= 13
        assert store.inbox_backlog() == before
        assert store.query("SELECT count(*) FROM inbox WHERE bytes IS NULL OR bytes <> length(body)") == [(0,)]

        new = [body("new1", 5), body("new2", 2)]
        store.inbox_put([Inboxed(b, "learn", "2026-01-02T00:00:00.000Z", events=n) for b, n in zip(new, (5, 2), strict=True)])
        assert store.inbox_backlog() == _direct(pg_url) == Backlog(6, 17, before.bytes + sum(len(b) for b in new))

        # a server of the previous version, still running during a rolling upgrade, inserts no size
        with psycopg.connect(pg_url) as conn:
            conn.execute(OLD_INSERT, (body("legacy", 1), "2026-01-03T00:00:00.000Z", 1))
        assert store.inbox_backlog() == _direct(pg_url) == Backlog(7, 18, before.bytes + sum(len(b) for b in new)
                                                                   + len(body("legacy", 1)))

        while store.digest_inbox(Claim(events=5), digest):
            pass
        assert store.inbox_backlog() == _direct(pg_url) == Backlog()
        assert store.query("SELECT count(*) FROM events")[0][0] == 18


def test_the_backlog_is_answered_from_the_index(pg_url: str) -> None:
    """The index covers the backlog query: the planner can answer it by an index-only scan
    (which reads no heap page once VACUUM has set the visibility map; whether it could here
    depends on the other sessions of the shared test cluster, so that is not asserted)."""
    with open_store(pg_url) as store:
        store.inbox_put([Inboxed(body(f"b{i}", 1), "learn", "2026-01-01T00:00:00.000Z", events=1) for i in range(2000)])
        assert store.inbox_backlog() == _direct(pg_url)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE inbox")
        conn.execute("SET enable_seqscan = off")  # a table this small would be scanned whole anyway
        conn.execute("SET enable_bitmapscan = off")  # chosen when other sessions keep pages not all-visible
        plan = "\n".join(r[0] for r in conn.execute("EXPLAIN (ANALYZE, COSTS OFF) SELECT count(*), coalesce(sum(events), 0),"
                                                    " coalesce(sum(bytes), 0), count(*) - count(bytes) FROM inbox"))
    assert "Index Only Scan using inbox_backlog" in plan, plan
