"""kill -9 under load: every event answered 2xx is stored exactly once after a restart (once
the restarted server has digested what the killed one had inboxed)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import msgspec
import pytest
from harness import Server, add_key
from payloads import envelope, ids, learn_events

from caliper_stream.store import open_store
from caliper_stream.store.base import Store

CLIENTS = 6
LOAD_SECONDS = 10.0  # upper bound; the kill comes as soon as enough requests are acknowledged
ACKED_BEFORE_KILL = 40


class Client(threading.Thread):
    """Posts envelopes of fresh events until stopped; remembers which ones got a 2xx."""

    def __init__(self, url: str, key: str, stop: threading.Event, seed: int) -> None:
        super().__init__(daemon=True)
        self.url, self.key, self.stop, self.seed = url, key, stop, seed
        self.acked: list[list[str]] = []
        self.unacked: list[bytes] = []

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"}
        with httpx.Client(base_url=self.url, timeout=10) as http:
            n = 0
            while not self.stop.is_set():
                events = learn_events(5 + (self.seed + n) % 40, offset=self.seed + n)
                body = envelope(events)
                n += 1
                try:
                    r = http.post("/caliper", content=body, headers=headers)
                except httpx.HTTPError:
                    self.unacked.append(body)
                    continue
                if 200 <= r.status_code < 300:
                    self.acked.append(ids(events))
                else:
                    self.unacked.append(body)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'events.db'}"
    return str(request.getfixturevalue("pg_url"))


def test_kill_9_mid_load_loses_and_duplicates_nothing_acknowledged(db: str, tmp_path: Path) -> None:
    open_store(db).close()
    key = add_key(db, "learn")
    server = Server(db, tmp_path / "server.log")
    stop = threading.Event()
    clients: list[Client] = []
    try:
        server.start()
        clients = [Client(server.url, key, stop, seed) for seed in range(CLIENTS)]
        for c in clients:
            c.start()
        deadline = time.monotonic() + LOAD_SECONDS
        while sum(len(c.acked) for c in clients) < ACKED_BEFORE_KILL and time.monotonic() < deadline:
            time.sleep(0.01)
        server.kill()  # SIGKILL while the clients are still posting
        time.sleep(0.2)
        stop.set()
        for c in clients:
            c.join(timeout=30)
        assert not any(c.is_alive() for c in clients)

        acked = [i for c in clients for batch in c.acked for i in batch]
        assert len(acked) >= ACKED_BEFORE_KILL * 5

        server.start()  # same database, as after a crash
        store = open_store(db)
        try:
            digested(store)
            if store.dialect == "sqlite":
                assert store.query("PRAGMA integrity_check") == [("ok",)]
            stored = dict(store.query("SELECT event_id, count(*) FROM events GROUP BY event_id"))
            missing = [i for i in acked if i not in stored]
            assert not missing, f"{len(missing)} acknowledged events lost"
            assert all(n == 1 for n in stored.values()), "an event was stored twice"

            # A sensor retries what was not acknowledged: afterwards everything is there once.
            unacked = [body for c in clients for body in c.unacked]
            with httpx.Client(base_url=server.url, timeout=30) as http:
                for body in unacked:
                    r = http.post("/caliper", content=body, headers={"Authorization": key})
                    assert r.status_code == 200
            digested(store)
            total = sum(len(batch) for c in clients for batch in c.acked) + sum(
                len(envelope_ids(body)) for body in unacked
            )
            rows = store.query("SELECT count(*), count(DISTINCT event_id) FROM events")[0]
            assert rows == (total, total)
        finally:
            store.close()
    finally:
        stop.set()
        server.kill()


def digested(store: Store, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while store.inbox_backlog().rows:
        assert time.monotonic() < deadline, "the inbox was not digested after the restart"
        time.sleep(0.05)


def envelope_ids(body: bytes) -> list[str]:
    return [e["id"] for e in msgspec.json.decode(body)["data"]]
