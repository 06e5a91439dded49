"""The sensor against a real ``caliper-stream serve`` process on a loopback port (no HTTP mocks)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sensor_catalogue import COURSE, SESSION, STUDENT, catalogue

from caliper_stream.event import decode
from caliper_stream.read import read_bytes
from caliper_stream.sensor import AsyncSensor, ManualClock, Sensor
from caliper_stream.sensor import builders as b
from caliper_stream.sensor.flow import Backoff, next_nightly
from caliper_stream.simulate import Planned, TermConfig, generate
from caliper_stream.simulate.replay import LocalServer, replay

NY = ZoneInfo("America/New_York")
CONFIG = TermConfig(courses=2, students=12, days=4, seed=11)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LocalServer]:
    with LocalServer(tmp_path / "store.db", log=tmp_path / "serve.log") as srv:
        yield srv


def stored(srv: LocalServer) -> sqlite3.Connection:
    srv.digested()  # acknowledged bodies are events once the server has digested them
    return sqlite3.connect(srv.db_path)


def expected(planned: list[Planned]) -> Counter[tuple[str, str]]:
    """(type, action) counts of the distinct events (a duplicate delivery is one event)."""
    seen: dict[str, tuple[str, str]] = {}
    for p in planned:
        event = decode(next(read_bytes(b.encode(p.built.event))))
        seen[event.key] = (event.type, event.action)
    return Counter(seen.values())


def by_type(srv: LocalServer) -> Counter[tuple[str, str]]:
    with stored(srv) as db:
        return Counter({(t, a): n for t, a, n in db.execute("SELECT type, action, COUNT(*) FROM events GROUP BY 1, 2")})


def sensor_for(srv: LocalServer, tmp_path: Path, clock: ManualClock, **kw: object) -> Sensor:
    options: dict[str, object] = {"outbox": tmp_path / "outbox.db", "clock": clock, "background": False, "timezone": CONFIG.timezone, "batch_size": 40}
    options.update(kw)
    return Sensor(srv.url, srv.key, **options)  # type: ignore[arg-type]


def test_a_simulated_term_arrives_exactly_once(server: LocalServer, tmp_path: Path) -> None:
    planned = list(generate(CONFIG))
    sensor = sensor_for(server, tmp_path, ManualClock(planned[0].at))
    stats = replay(planned, sensor)
    sensor.close()
    assert (stats.pending, stats.failed) == (0, 0)
    assert stats.sent == len(planned)
    assert by_type(server) == expected(planned)
    with stored(server) as db:
        total, distinct = db.execute("SELECT COUNT(*), COUNT(DISTINCT event_key) FROM events").fetchone()
        assert total == distinct == sum(expected(planned).values())
        assert db.execute("SELECT COUNT(*) FROM dead_letters").fetchone() == (0,)
        # nightly events were sent only at or after the nightly run that followed them
        nightly = db.execute(
            "SELECT event_time, send_time FROM event_view WHERE type = 'bb:CalculatedGradeSnapshotEvent' "
            "OR grade_action LIKE 'instructor.%' OR grade_action LIKE 'user.%'"
        ).fetchall()
    assert nightly
    for event_time, send_time in nightly:
        et = datetime.fromisoformat(event_time.replace("Z", "+00:00")).timestamp()
        st = datetime.fromisoformat(send_time.replace("Z", "+00:00")).timestamp()
        assert st >= next_nightly(et, (2, 0), NY) > et


def test_endpoint_killed_mid_term_loses_nothing(server: LocalServer, tmp_path: Path) -> None:
    planned = list(generate(CONFIG))
    clock = ManualClock(planned[0].at)
    sensor = sensor_for(server, tmp_path, clock)
    third = len(planned) // 3
    for i, p in enumerate(planned):
        if i == third:
            server.stop(kill=True)
        if i == 2 * third:
            server.start()
        clock.set(p.at)
        sensor.send(p.built)
        sensor.pump()
    mid = sensor.stats()
    assert mid.retries > 0
    assert sensor.drain(60, include_held=True)
    stats = sensor.stats()
    sensor.close()
    assert (stats.pending, stats.failed) == (0, 0)
    assert by_type(server) == expected(planned)
    with stored(server) as db:
        total, distinct = db.execute("SELECT COUNT(*), COUNT(DISTINCT event_key) FROM events").fetchone()
    assert total == distinct


def test_sensor_survives_its_own_crash(server: LocalServer, tmp_path: Path) -> None:
    built = list(catalogue(b.Learn("site-crash")).values())
    clock = ManualClock(datetime(2026, 3, 3, 12, tzinfo=NY).timestamp())
    first = sensor_for(server, tmp_path, clock)
    first.send_many(built)
    first.outbox.close()  # the process dies before sending anything
    second = sensor_for(server, tmp_path, clock)
    assert second.stats().pending == len(built)
    assert second.drain(30, include_held=True)
    second.close()
    assert sum(by_type(server).values()) == len(built)


def test_wrong_key_keeps_events_as_failed_with_the_reason(server: LocalServer, tmp_path: Path) -> None:
    clock = ManualClock(datetime(2026, 3, 3, 12, tzinfo=NY).timestamp())
    sensor = Sensor(server.url, "not-a-key", outbox=tmp_path / "o.db", clock=clock, background=False)
    lt = b.Learn("site-key")
    for minute in range(5):
        sensor.send(b.view_event(lt, STUDENT, COURSE, f"2026-03-03T17:0{minute}:00.000Z", SESSION, content_pk="_1_1"))
    assert sensor.drain(30)
    stats = sensor.stats()
    failed = sensor.outbox.failed()
    sensor.close()
    assert (stats.failed, stats.pending, stats.sent) == (5, 0, 0)
    assert {f.status for f in failed} == {401}
    assert all(f.reason for f in failed)
    assert sum(by_type(server).values()) == 0


def test_nightly_events_arrive_only_after_the_nightly_time(server: LocalServer, tmp_path: Path) -> None:
    afternoon = datetime(2026, 3, 3, 15, tzinfo=NY).timestamp()
    clock = ManualClock(afternoon)
    sensor = sensor_for(server, tmp_path, clock, nightly_at="02:00", timezone="America/New_York")
    lt = b.Learn("site-night")
    built = catalogue(lt)
    sensor.send(built["view"])
    sensor.send(built["grade-grade"])
    sensor.send(built["snapshot"])
    clock.advance(5)
    sensor.pump()
    assert sum(by_type(server).values()) == 1
    clock.set(datetime(2026, 3, 4, 1, 59, 59, tzinfo=NY).timestamp())
    sensor.flush()
    assert sum(by_type(server).values()) == 1
    assert sensor.stats().held == 2
    clock.set(datetime(2026, 3, 4, 2, 0, tzinfo=NY).timestamp())
    sensor.pump()
    sensor.close()
    assert by_type(server) == Counter({("ViewEvent", "Viewed"): 1, ("GradeEvent", "Graded"): 1, ("bb:CalculatedGradeSnapshotEvent", "Graded"): 1})


def test_background_sender_and_bearer_auth(server: LocalServer, tmp_path: Path) -> None:
    lt = b.Learn("site-bg")
    events = [b.view_event(lt, STUDENT, COURSE, f"2026-03-03T17:{i // 60:02d}:{i % 60:02d}.000Z", SESSION, content_pk="_1_1") for i in range(250)]
    with Sensor(server.url, server.key, auth="bearer", outbox=tmp_path / "bg.db", batch_size=100, max_delay=0.05) as sensor:
        for e in events:
            sensor.send(e)
        assert sensor.drain(30)
        assert sensor.stats().sent == 250
    assert by_type(server) == Counter({("ViewEvent", "Viewed"): 250})


def test_async_sensor(server: LocalServer, tmp_path: Path) -> None:
    built = list(catalogue(b.Learn("site-async", version="1.0")).values())

    async def run() -> None:
        async with AsyncSensor(server.url, server.key, outbox=tmp_path / "a.db", version="1.0", max_delay=0.05,
                               batch_size=4, concurrency=2) as sensor:
            for x in built:
                await sensor.send(x, nightly=False)
            assert await sensor.drain(30)
            assert sensor.stats().sent == len(built)

    asyncio.run(run())
    assert sum(by_type(server).values()) == len(built)
    with stored(server) as db:
        assert db.execute("SELECT DISTINCT version FROM events").fetchall() == [("1.0",)]


def test_endpoint_killed_while_requests_are_in_flight(server: LocalServer, tmp_path: Path) -> None:
    """A background sender posting continuously; the server is SIGKILLed mid-stream and comes
    back: every event arrives once (a request the server committed but never answered is
    re-sent, and the store recognises it)."""
    planned = [p for p in generate(TermConfig(courses=2, students=20, days=3, seed=12, duplicate_rate=0)) if not p.duplicate]
    with Sensor(server.url, server.key, outbox=tmp_path / "live.db", batch_size=20, max_delay=0.01,
                backoff=Backoff(base=0.05, cap=0.5), concurrency=3) as sensor:
        sensor.send_many([p.built for p in planned], nightly=False)
        deadline = time.monotonic() + 30
        while sensor.stats().sent < len(planned) // 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        server.stop(kill=True)
        time.sleep(0.3)
        server.start()
        assert sensor.drain(60)
        stats = sensor.stats()
    assert (stats.pending, stats.failed) == (0, 0)
    assert stats.retries > 0
    assert by_type(server) == expected(planned)


def test_the_readme_example_delivers_its_event(server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's Python example, as printed, against a real server."""
    import re

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    found = re.search(r"```python\n(.*?)```", readme, re.S)
    assert found is not None, "the README has no Python example"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CALIPER_STREAM_KEY", server.key)
    monkeypatch.setenv("CALIPER_STREAM_URL", server.url)
    exec(compile(found.group(1), "README.md", "exec"), {"print": lambda *a: None})
    with stored(server) as db:
        rows = db.execute("SELECT type, action, user_pk, course_number, source FROM events").fetchall()
    assert rows == [("ViewEvent", "Viewed", "_8510_1", "BIO-101", server.key_name)]
