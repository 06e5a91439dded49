"""The endpoint against PostgreSQL, with two worker processes (each with its own writer).

Each run uses a schema of its own (see ``pg_url`` in conftest), dropped afterwards.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from harness import Server, Site, start_site
from payloads import LEARN, broken, envelope, ids, learn_events

from caliper_stream.server.ingest import DUPLICATE_NOTE

pytestmark = pytest.mark.postgres

@pytest.fixture(scope="module")
def pg_site(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("pg")
    yield from start_site(pg_url, tmp, "--workers", "2", "--key-cache-seconds", "0")


def test_auth_forms_and_sources(pg_site: Site) -> None:
    events = learn_events(4)
    assert pg_site.post(envelope(events[:2]), bearer=True).json()["accepted"] == 2
    assert pg_site.post(envelope(events[2:]), bearer=False).json()["accepted"] == 2
    assert pg_site.count("source = ? AND event_id IN (?, ?, ?, ?)", (pg_site.name, *ids(events))) == 4
    assert pg_site.post(envelope(learn_events(1)), key="wrong").status_code == 401


def test_duplicates_shared_ids_and_a_bad_event(pg_site: Site) -> None:
    events = learn_events(8)
    body = envelope([*events, broken(events[0])])
    first = pg_site.post(body).json()
    assert (first["accepted"], first["duplicates"], first["rejected"]) == (8, 0, 1)
    again = pg_site.post(body).json()
    assert (again["accepted"], again["duplicates"], again["rejected"]) == (0, 8, 1)
    assert pg_site.count_ids(ids(events)) == 8
    shared = (LEARN / "assessment-events-2.json").read_bytes()
    r = pg_site.post(shared)
    assert r.status_code == 200
    assert r.json()["accepted"] + r.json()["duplicates"] == 2


def test_not_json_is_400_and_dead_lettered(pg_site: Site) -> None:
    body = f"<html>{uuid.uuid4()}</html>".encode()
    assert pg_site.post(body).status_code == 400
    assert [d.raw for d in pg_site.store.list_dead_letters(limit=10_000) if d.raw == body] == [body]


def test_thousand_events_and_concurrent_duplicates(pg_site: Site) -> None:
    events = learn_events(1000)
    body = envelope(events)
    results: list[int] = []

    def post() -> None:
        with httpx.Client(base_url=pg_site.server.url, timeout=60) as c:
            r = c.post("/caliper", content=body, headers={"Authorization": pg_site.key})
            results.append(r.status_code)

    threads = [threading.Thread(target=post) for _ in range(4)]  # both workers race on one batch
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert results == [200] * 4
    pg_site.digested()  # by the digesters of both workers, which share the inbox
    assert pg_site.count_ids(ids(events)) == 1000


def test_kill_9_then_restart(pg_url: str, pg_site: Site, tmp_path: Path) -> None:
    events = learn_events(50)
    assert pg_site.post(envelope(events)).status_code == 200
    server = Server(pg_url, tmp_path / "again.log", "--workers", "2")
    try:
        server.start()
        server.kill()
        server.start()
        with httpx.Client(base_url=server.url, timeout=30) as c:
            r = c.post("/caliper?summary=1", content=envelope(events), headers={"Authorization": pg_site.key})
        assert r.json() == {"accepted": 0, "duplicates": 50, "rejected": 0, "note": DUPLICATE_NOTE}
    finally:
        server.kill()
