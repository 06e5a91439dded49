"""Values a backend cannot hold as such (NUL, over-long indexed strings) and an event the
database refuses, through a real server on both backends: each is stored or dead-lettered,
and never fails the requests grouped into the same commit."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from harness import PG, Server, Site, add_key, pg_schema_url, start_site
from payloads import envelope, ids, learn_events

from caliper_stream.store.common import INDEXED_CHARS, NUL_REPLACEMENT


@pytest.fixture
def fresh_pg() -> Iterator[str]:
    """A PostgreSQL schema for this test alone."""
    yield from pg_schema_url()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'events.db'}"
    return str(request.getfixturevalue("fresh_pg"))


@pytest.fixture
def any_site(db: str, tmp_path: Path) -> Iterator[Site]:
    yield from start_site(db, tmp_path)


def test_nul_in_key_data_is_stored_on_both_backends(any_site: Site) -> None:
    site = any_site
    escaped, raw_nul = learn_events(2)
    escaped["actor"]["id"] = "urn:actor:a\u0000b"
    body = envelope([escaped]).replace(b"\\u0000", b"\\u0000")  # JSON escape \u0000
    assert b"\\u0000" in body
    r = site.post(body)
    assert r.status_code == 200
    assert r.json()["accepted"] == 1
    # a raw 0x00 byte inside a string (Learn's raw control characters) is read all the same
    raw_nul["actor"]["id"] = "urn:actor:RAWNUL"
    body = envelope([raw_nul]).replace(b"RAWNUL", b"c\x00d")
    r = site.post(body)
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] + r.json()["rejected"] == 1
    [(actor,)] = site.store.query("SELECT actor_id FROM event_view WHERE event_id = ?", (escaped["id"],))
    assert actor == f"urn:actor:a{NUL_REPLACEMENT}b"
    [(codec, raw)] = site.store.query("SELECT raw_codec, raw FROM events WHERE event_id = ?", (escaped["id"],))
    assert b"\\u0000" in site.store.decode_raw(codec, raw)  # the bytes stay exact


def test_over_long_indexed_values_are_storable(any_site: Site) -> None:
    site = any_site
    long_action, huge = learn_events(2)
    long_action["action"] = "A" * 3000
    huge["group"]["courseNumber"] = "C" * (10 * 1024 * 1024)  # a 10 MB string
    for event in (long_action, huge):
        r = site.post(envelope([event]))
        assert r.status_code == 200, r.text[:500]
        assert r.json()["accepted"] == 1
    [(action, codec, raw)] = site.store.query("SELECT action, raw_codec, raw FROM events WHERE event_id = ?", (long_action["id"],))
    assert action == "A" * INDEXED_CHARS + "…"
    assert b"A" * 3000 in site.store.decode_raw(codec, raw)
    [(course,)] = site.store.query("SELECT course_number FROM events WHERE event_id = ?", (huge["id"],))
    assert len(course) <= INDEXED_CHARS + 1


def _poison(db: str) -> None:
    """Make the database refuse one kind of event (as a backend refuses a value it cannot hold)."""
    if db.startswith("sqlite"):
        import sqlite3

        conn = sqlite3.connect(db[len("sqlite:///") :])
        conn.execute(
            "CREATE TRIGGER refuse_poison BEFORE INSERT ON events WHEN NEW.action = 'Poisoned'"
            " BEGIN SELECT RAISE(ABORT, 'poisoned event'); END"
        )
        conn.commit()
        conn.close()
    else:
        with psycopg.connect(db, autocommit=True) as conn:
            conn.execute("ALTER TABLE events ADD CONSTRAINT refuse_poison CHECK (action <> 'Poisoned')")


def test_an_event_the_database_refuses_costs_only_itself(db: str, tmp_path: Path) -> None:
    from caliper_stream.store import open_store

    open_store(db).close()
    _poison(db)
    gen = start_site(db, tmp_path)
    site = next(gen)
    try:
        results: list[tuple[int, list[str]]] = []

        def normal(seed: int) -> None:
            with httpx.Client(base_url=site.server.url, timeout=60) as http:
                for n in range(8):
                    events = learn_events(20, offset=seed * 100 + n)
                    r = http.post("/caliper", content=envelope(events),
                                  headers={"Authorization": site.key, "Content-Type": "application/json"})
                    results.append((r.status_code, ids(events)))

        threads = [threading.Thread(target=normal, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        poisoned_results = []
        for _ in range(6):
            events = learn_events(10)
            events[3]["action"] = "Poisoned"
            r = site.post(envelope(events))
            poisoned_results.append((r, events))
        inboxed = []  # the same through the inbox: isolated by the digester
        for _ in range(2):
            events = learn_events(10)
            events[3]["action"] = "Poisoned"
            assert site.post(envelope(events), summary=False).status_code == 200
            inboxed.append(events)
        for t in threads:
            t.join(timeout=120)
        site.digested()
        assert {status for status, _ in results} == {200}
        for events in inboxed:
            assert site.count_ids(ids(events)) == 9
        assert site.count_ids([i for _, batch in results for i in batch]) == 20 * len(results)
        for r, events in poisoned_results:
            assert r.status_code == 200, r.text
            assert r.json()["accepted"] == 9
            assert r.json()["rejected"] == 1
            assert site.count_ids(ids(events)) == 9
        letters = site.store.list_dead_letters(100)
        refused = [dl for dl in letters if any("refused" in str(p) for p in dl.reasons)]
        assert len(refused) == 8
        assert "caliper_isolated_rows_total 8.0" in site.metrics()
    finally:
        gen.close()


# --- 11.17: workers and their supervisor --------------------------------------------------------


def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@pytest.mark.postgres
def test_workers_exit_when_their_supervisor_is_killed(fresh_pg: str, tmp_path: Path) -> None:
    pg_url = fresh_pg
    add_key(pg_url, "learn")
    server = Server(pg_url, tmp_path / "server.log", "--workers", "2").start()
    try:
        assert server.proc is not None
        os.kill(server.proc.pid, signal.SIGKILL)  # the supervisor only, not its process group
        server.proc.wait(timeout=10)
        deadline = time.monotonic() + 30  # beyond the workers' STOP_GRACE
        while not port_free(server.port):
            assert time.monotonic() < deadline, "workers still hold the port"
            time.sleep(0.1)
        # and a new server starts on the same port
        restarted = subprocess.Popen(
            [sys.executable, "-m", "caliper_stream", "serve", "--db", pg_url, "--port", str(server.port),
             "--workers", "2"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{server.port}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert restarted.poll() is None, restarted.stderr.read() if restarted.stderr else ""
                assert time.monotonic() < deadline
                time.sleep(0.1)
        finally:
            os.killpg(restarted.pid, signal.SIGTERM)
            restarted.wait(timeout=30)
    finally:
        server.kill()


# --- 10.16: a PostgreSQL schema that does not exist ---------------------------------------------


@pytest.mark.postgres
def test_a_missing_postgresql_schema_says_what_to_do(pg_url: str) -> None:
    del pg_url  # PostgreSQL is there; the schema below is not
    sep = "&" if "?" in PG else "?"
    url = f"{PG}{sep}options=-c%20search_path%3Dno_such_schema_here"
    out = subprocess.run([sys.executable, "-m", "caliper_stream", "stats", "--db", url],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "does not exist" in out.stderr
    assert "CREATE SCHEMA" in out.stderr
    assert "Traceback" not in out.stderr
