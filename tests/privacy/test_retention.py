"""Retention policies: the default policy, the schedule `serve` follows."""

from __future__ import annotations

import contextlib
import sys
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import psycopg
import pytest
import termdata

from caliper_stream.analyse import REPORTS
from caliper_stream.analyse.gradebook import cells
from caliper_stream.ingest import Row, now, prepare
from caliper_stream.keydata import KeyData
from caliper_stream.privacy import retention
from caliper_stream.privacy.nightly import next_run, schedule, set_schedule
from caliper_stream.privacy.rewrite import refresh_derived
from caliper_stream.read import RawEvent
from caliper_stream.store import Store, open_store

sys.path.insert(0, str(Path(__file__).parent.parent / "server"))
from harness import cli, pg_schema_url


def test_the_default_policy_covers_only_types_without_their_own(tmp_path: Path) -> None:
    evs = termdata.events()
    with open_store(f"sqlite:///{tmp_path / 's.db'}") as store:
        store.write(prepare([RawEvent(i, "", msgspec.json.encode(e)) for i, e in enumerate(evs)], source="t").rows)
        before = dict(store.query("SELECT type, count(*) FROM events GROUP BY type"))
        retention.set_policy(store, "GradeEvent", 3650)
        retention.set_policy(store, "*", 1)
        at = datetime(2026, 3, 1, tzinfo=UTC)  # after the whole term
        planned = {e.event_type: e.events for e in retention.plan(store, at)}
        assert planned == {"GradeEvent": 0, "*": sum(before.values()) - before["GradeEvent"]}
        done = retention.apply(store, at=at, batch=100)
        assert {e.event_type: e.events for e in done} == planned
        assert dict(store.query("SELECT type, count(*) FROM events GROUP BY type")) == {"GradeEvent": before["GradeEvent"]}
        with pytest.raises(ValueError, match="at least one day"):
            retention.set_policy(store, "ViewEvent", 0)


def test_the_nightly_schedule(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 's.db'}") as store:
        assert schedule(store) is None
        set_schedule(store, "03:15")
        assert schedule(store) == "03:15"
        with pytest.raises(ValueError, match="HH:MM"):
            set_schedule(store, "25:00")
        set_schedule(store, None)
        assert schedule(store) is None
    now = datetime(2026, 1, 12, 2, 0, tzinfo=UTC)
    assert next_run("03:15", now) == datetime(2026, 1, 12, 3, 15, tzinfo=UTC)
    assert next_run("01:00", now) == datetime(2026, 1, 13, 1, 0, tzinfo=UTC)


# --- PostgreSQL: whole months dropped as partitions ------------------------------------------

MONTHS = ("2026-01", "2026-02", "2026-03")
AT = datetime(2026, 3, 20, tzinfo=UTC)  # with 30 days: the cutoff is 2026-02-18, inside February


def _term_rows() -> list[Row]:
    """The term's events spread over three months, and two events without a time."""
    evs = termdata.events()
    spread = []
    for i, e in enumerate(evs):
        month = MONTHS[i * len(MONTHS) // len(evs)]
        spread.append({**e, "eventTime": month + e["eventTime"][7:]})
    prepared = prepare([RawEvent(i, "", msgspec.json.encode(e)) for i, e in enumerate(spread)], source="t").rows
    rows = list({r.event_key: r for r in reversed(prepared)}.values())[::-1]  # first delivery of each
    for key in ("timeless-1", "timeless-2"):
        kd = KeyData(event_key=key, type="ViewEvent", action="Viewed")
        rows.append(Row(key, b'{"id": "%s"}' % key.encode(), kd, "t", now()))
    return rows


def _partitions(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return sorted(r[0] for r in conn.execute(
            "SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = 'events'::regclass"))


def _derived(store: Store) -> dict[str, list[str]]:
    """Every report and the gradebook's cells, as sorted JSON lines."""
    out = {name: fn(store) for name, fn in REPORTS.items()}
    out["cells"] = [msgspec.to_builtins(c) for c in cells(store)]
    return {k: sorted(msgspec.json.encode(r).decode() for r in v) for k, v in out.items()}


@pytest.mark.postgres
def test_retention_drops_wholly_expired_months_as_partitions() -> None:
    rows = _term_rows()
    cutoff = "2026-02-18T00:00:00.000Z"
    kept = {r.event_key for r in rows if r.keydata.event_time is None or r.keydata.event_time >= cutoff}
    january = sum(1 for r in rows if (r.keydata.event_time or "").startswith("2026-01"))
    expired = len(rows) - len(kept)
    assert january
    assert expired > january  # a whole month, and some of the boundary month
    with contextlib.ExitStack() as stack:
        url, only_kept = (stack.enter_context(contextlib.closing(pg_schema_url())).__next__() for _ in range(2))
        store = stack.enter_context(open_store(url))
        store.write(rows)
        refresh_derived(store)  # summaries and cells built before, so they must rebuild
        assert _partitions(url) == ["events_2026_01", "events_2026_02", "events_2026_03", "events_default"]
        retention.set_policy(store, "*", 30)
        assert retention.month_drops(store, AT) == [retention.MonthDrop("2026-01", "events_2026_01", january)]
        shown = cli("retention", "apply", "--dry-run", "--now", AT.isoformat(), "--db", url).stdout
        assert "events_2026_01" in shown
        assert _partitions(url) == ["events_2026_01", "events_2026_02", "events_2026_03", "events_default"]
        assert [e.events for e in retention.plan(store, AT)] == [expired]
        done = retention.apply(store, at=AT, batch=50)
        assert [(e.event_type, e.cutoff, e.events) for e in done] == [("*", cutoff, expired)]
        assert _partitions(url) == ["events_2026_02", "events_2026_03", "events_default"]
        assert {k for (k,) in store.query("SELECT event_key FROM events")} == kept
        assert {k for (k,) in store.query("SELECT event_key FROM event_keys")} == kept
        audit = store.query("SELECT detail FROM audit WHERE action = 'retention'")
        assert msgspec.json.decode(audit[-1][0])["*"]["events"] == expired

        reference = stack.enter_context(open_store(only_kept))
        reference.write([r for r in rows if r.event_key in kept])
        refresh_derived(reference)
        assert _derived(store) == _derived(reference)

        # re-sent events of the dropped month are stored again (the first one, written while this
        # store still believed the month existed, in the default partition until the next write
        # of the month re-creates it), and the next run drops them again
        resent = [r for r in rows if (r.keydata.event_time or "").startswith("2026-01")][:2]
        assert [store.write([r]).accepted for r in resent] == [1, 1]
        assert "events_2026_01" in _partitions(url)
        assert store.query("SELECT count(*) FROM events_2026_01")[0][0] == 2
        assert [e.events for e in retention.apply(store, at=AT)] == [2]
        assert "events_2026_01" not in _partitions(url)


@pytest.mark.postgres
def test_a_longer_policy_for_one_type_keeps_its_months_whole() -> None:
    rows = _term_rows()
    with contextlib.closing(pg_schema_url()) as urls, open_store(next(urls)) as store:
        store.write(rows)
        retention.set_policy(store, "*", 30)
        retention.set_policy(store, "GradeEvent", 3650)
        assert retention.month_drops(store, AT) == []
        retention.apply(store, at=AT)
        grades = sum(1 for r in rows if r.keydata.type == "GradeEvent")
        assert store.query("SELECT count(*) FROM events WHERE type = 'GradeEvent'")[0][0] == grades
        assert "events_2026_01" in [m for (m,) in store.query(
            "SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = 'events'::regclass")]
