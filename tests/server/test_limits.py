"""Size limits, overload (429) and an uncommittable database (503), each on its own server."""

from __future__ import annotations

import gzip
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from harness import Site, start_site
from payloads import envelope, ids, learn_events

from caliper_stream.server.payload import TooLarge, inflate

LIMIT = 4096


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("small")
    yield from start_site(f"sqlite:///{tmp / 'events.db'}", tmp, "--max-bytes", str(LIMIT))


def test_declared_content_length_over_the_limit_is_413(small: Site) -> None:
    events = learn_events(4)
    body = envelope(events)
    assert LIMIT < len(body) < 64 * 1024  # fits the socket buffers: the client reads the answer
    r = small.post(body)
    assert r.status_code == 413
    assert r.headers["content-type"] == "application/problem+json"
    assert small.count_ids(ids(events)) == 0


def test_streamed_body_over_the_limit_is_413(small: Site) -> None:
    events = learn_events(4)
    body = envelope(events)

    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer, counted as it comes
        for i in range(0, len(body), 1000):
            yield body[i : i + 1000]

    r = small.client.post(
        "/caliper", content=chunks(), headers={"Authorization": small.key, "Content-Type": "application/json"}
    )
    assert r.status_code == 413
    assert small.count_ids(ids(events)) == 0


def test_body_at_the_limit_is_accepted_and_advertised(small: Site) -> None:
    events = learn_events(1)
    body = envelope(events)
    assert len(body) <= LIMIT
    assert small.post(body).status_code == 200
    config = small.client.get("/caliper", headers={"Authorization": small.key}).json()
    assert config["caliperMaximumPayloadSize"] == LIMIT // 1024


def test_inflate_refuses_a_gzip_bomb() -> None:
    bomb = gzip.compress(b" " * (2 * 1024 * 1024))
    assert len(bomb) < 10_000
    with pytest.raises(TooLarge):
        inflate(bomb, 1024 * 1024)
    two_members = gzip.compress(b"[1,") + gzip.compress(b"2]")
    assert inflate(two_members, 100) == b"[1,2]"


class Lock:
    """Holds SQLite's write lock from another connection, as a long writer would."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("BEGIN IMMEDIATE")

    def release(self) -> None:
        self.conn.execute("ROLLBACK")
        self.conn.close()


def pending(site: Site) -> float:
    for line in site.metrics().splitlines():
        if line.startswith("caliper_pending_events "):
            return float(line.split()[1])
    raise AssertionError("no caliper_pending_events gauge")


@pytest.fixture
def overload_site(tmp_path: Path) -> Iterator[Site]:
    yield from start_site(f"sqlite:///{tmp_path / 'events.db'}", tmp_path, "--inbox-backlog", "0")


def test_overload_is_429_with_retry_after(overload_site: Site, tmp_path: Path) -> None:
    site = overload_site
    first = learn_events(3)
    lock = Lock(tmp_path / "events.db")
    result: dict[str, httpx.Response] = {}
    try:
        waiting = threading.Thread(target=lambda: result.update(r=site.post(envelope(first))))
        waiting.start()
        deadline = time.monotonic() + 20
        while pending(site) == 0:  # the first request is parsed and waits for its commit
            assert time.monotonic() < deadline
            time.sleep(0.02)
        second = learn_events(2)
        r = site.post(envelope(second))
        assert r.status_code == 429
        assert int(r.headers["retry-after"]) > 0
        assert r.headers["content-type"] == "application/problem+json"
    finally:
        lock.release()
    waiting.join(timeout=30)
    assert result["r"].status_code == 200  # the waiting request still got its commit
    assert site.count_ids(ids(first)) == 3
    assert site.count_ids(ids(second)) == 0
    assert pending(site) == 0
    assert site.post(envelope(second)).status_code == 200


@pytest.fixture
def fragile_site(tmp_path: Path) -> Iterator[Site]:
    yield from start_site(f"sqlite:///{tmp_path / 'events.db'}?busy_timeout=0.3", tmp_path)


def test_database_that_cannot_commit_is_503_and_stores_nothing(fragile_site: Site, tmp_path: Path) -> None:
    site = fragile_site
    events = learn_events(5)
    body = envelope(events)
    lock = Lock(tmp_path / "events.db")
    try:
        r = site.post(body)
        assert r.status_code == 503
        assert int(r.headers["retry-after"]) > 0
        assert r.headers["content-type"] == "application/problem+json"
        bad = site.post(b"not json")
        assert bad.status_code == 503  # not 400: its dead letter could not be committed either
    finally:
        lock.release()
    assert site.count_ids(ids(events)) == 0
    assert site.post(body).json() == {"accepted": 5, "duplicates": 0, "rejected": 0}
    assert "caliper_commit_failures_total 2.0" in site.metrics()


def child_pids(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def test_a_killed_digester_is_replaced(tmp_path: Path) -> None:
    gen = start_site(f"sqlite:///{tmp_path / 'events.db'}", tmp_path)
    site = next(gen)
    try:
        assert site.server.proc is not None
        [digester] = child_pids(site.server.proc.pid)
        os.kill(digester, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while digester in child_pids(site.server.proc.pid):  # noticed, reaped and replaced
            assert time.monotonic() < deadline
            time.sleep(0.05)
            site.client.get("/readyz")
        assert site.client.get("/readyz").status_code == 200
        [replacement] = child_pids(site.server.proc.pid)
        assert replacement != digester
        os.kill(replacement, signal.SIGKILL)
        time.sleep(0.2)
        events = learn_events(3)
        r = site.post(envelope(events), summary=False)  # inboxed while no digester runs
        assert r.status_code == 200
        site.digested()  # by the next digester
        assert site.count_ids(ids(events)) == 3
        assert site.client.get("/readyz").status_code == 200
    finally:
        gen.close()
