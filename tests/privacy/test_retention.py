"""Retention policies: the default policy, the schedule `serve` follows."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest
import termdata

from caliper_stream.ingest import prepare
from caliper_stream.privacy import retention
from caliper_stream.privacy.nightly import next_run, schedule, set_schedule
from caliper_stream.read import RawEvent
from caliper_stream.store import open_store


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
