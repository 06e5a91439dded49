"""Several ``serve`` replicas on one PostgreSQL, as machines behind a load balancer: stateless,
the digest shared through the inbox with SKIP LOCKED. A replica killed mid-load loses nothing it
acknowledged (the survivor digests what it had inboxed), and replicas whose database connections
are cut reconnect by themselves."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from harness import Server, add_key, pg_schema_url
from payloads import envelope, ids, learn_events

from caliper_stream.store import open_store
from caliper_stream.store.base import Store

pytestmark = pytest.mark.postgres


class Client(threading.Thread):
    """Posts envelopes of fresh events (no summary: the inbox path) to one replica until
    stopped; remembers which ones got a 2xx."""

    def __init__(self, url: str, key: str, seed: int) -> None:
        super().__init__(daemon=True)
        self.url, self.key, self.seed = url, key, seed
        self.stop = threading.Event()
        self.acked: list[str] = []
        self.statuses: list[int] = []

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"}
        with httpx.Client(base_url=self.url, timeout=10) as http:
            n = 0
            while not self.stop.is_set():
                events = learn_events(20 + (self.seed + n) % 30, offset=self.seed + n)
                n += 1
                try:
                    r = http.post("/caliper", content=envelope(events), headers=headers)
                except httpx.HTTPError:
                    continue  # never answered: the sender retries it later (not our concern here)
                self.statuses.append(r.status_code)
                if r.status_code == 200:
                    self.acked += ids(events)


@pytest.fixture
def db() -> Iterator[str]:
    # an application_name of our own, so that only these replicas' backends are terminated
    for url in pg_schema_url():
        yield f"{url}&application_name=cs_replica_{uuid.uuid4().hex[:8]}"


def children(server: Server) -> list[int]:
    assert server.proc is not None
    return [int(c) for task in Path(f"/proc/{server.proc.pid}/task").iterdir()
            for c in (task / "children").read_text().split()]


def inbox(store: Store) -> int:
    return int(store.query("SELECT count(*) FROM inbox")[0][0])


def wait(predicate: object, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def exactly_once(store: Store, acked: list[str]) -> None:
    stored = dict(store.query("SELECT event_id, count(*) FROM events GROUP BY event_id"))
    missing = [i for i in acked if i not in stored]
    assert not missing, f"{len(missing)} of {len(acked)} acknowledged events lost"
    assert all(n == 1 for n in stored.values()), "an event was stored twice"


def load(clients: list[Client], seconds: float) -> None:
    before = sum(len(c.acked) for c in clients)
    time.sleep(seconds)
    assert sum(len(c.acked) for c in clients) > before, "no request was acknowledged meanwhile"


def test_a_replica_killed_mid_load_loses_nothing_and_the_survivor_digests_its_rows(db: str, tmp_path: Path) -> None:
    open_store(db).close()
    key = add_key(db, "learn")
    a = Server(db, tmp_path / "a.log")
    b = Server(db, tmp_path / "b.log")
    clients: list[Client] = []
    store = open_store(db)
    try:
        a.start()
        b.start()
        clients = [Client(s.url, key, seed) for seed, s in enumerate([a, b, a, b])]
        for c in clients:
            c.start()
        load(clients, 3)  # both digesters share the inbox
        for s in (a, b):  # hold both digesters: the inbox fills with both replicas' bodies
            for pid in children(s):
                os.kill(pid, signal.SIGSTOP)
        load(clients, 1.5)
        assert inbox(store) > 0
        a.kill()  # SIGKILL to the replica and its digester, mid-load
        for c in clients[0::2]:
            c.stop.set()
        for pid in children(b):
            os.kill(pid, signal.SIGCONT)
        load(clients[1::2], 2)  # the survivor keeps acknowledging
        for c in clients:
            c.stop.set()
            c.join(timeout=30)
        wait(lambda: inbox(store) == 0, "the survivor to digest the inbox")
        acked = [i for c in clients for i in c.acked]
        assert len(acked) > 0
        assert {s for c in clients for s in c.statuses} <= {200, 429}
        exactly_once(store, acked)
    finally:
        for c in clients:
            c.stop.set()
        store.close()
        a.kill()
        b.stop()


def test_replicas_reconnect_after_their_backends_are_terminated(db: str, tmp_path: Path) -> None:
    open_store(db).close()
    key = add_key(db, "learn")
    name = db.rsplit("application_name=", 1)[1]
    servers = [Server(db, tmp_path / f"{i}.log") for i in range(2)]
    clients: list[Client] = []
    store = open_store(db)
    try:
        for s in servers:
            s.start()
        clients = [Client(s.url, key, seed) for seed, s in enumerate(servers * 2)]
        for c in clients:
            c.start()
        load(clients, 2)
        with psycopg.connect(db, autocommit=True) as admin:
            for _ in range(3):  # as a database restart would: every connection of the replicas goes
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE application_name = %s AND pid <> pg_backend_pid()", (name,),
                )
                time.sleep(0.5)
        store.close()
        store = open_store(db)  # ours was cut too
        load(clients, 3)  # acknowledging again, through new connections
        for c in clients:
            c.stop.set()
            c.join(timeout=30)
        wait(lambda: inbox(store) == 0, "the digest after the reconnects")
        statuses = {s for c in clients for s in c.statuses}
        assert statuses <= {200, 429, 503}, statuses  # 503 + Retry-After while cut off, never 500
        exactly_once(store, [i for c in clients for i in c.acked])
        for s in servers:
            assert "Traceback" not in s.log.read_text()
    finally:
        for c in clients:
            c.stop.set()
        store.close()
        for s in servers:
            s.stop()
