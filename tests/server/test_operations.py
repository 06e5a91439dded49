"""Operating a real server: writer hand-off failures, metrics, wrong keys, read-only databases,
the WAL, start-up messages and the API description, each through a `serve` process."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import string
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from harness import Server, Site, add_key, start_site
from payloads import envelope, ids, learn_events

from caliper_stream.store import open_store


def child_pids(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def set_writable(path: Path, writable: bool) -> None:
    """Make a file (not) writable, for root too (root ignores permission bits: the immutable
    attribute stops it)."""
    if writable and os.geteuid() == 0:
        subprocess.run(["chattr", "-i", str(path)], check=True)
    path.chmod(0o644 if writable else 0o444)
    if not writable and os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(path)], check=True)


def wait_for(predicate: object, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


# --- 11.7: the digester killed under load --------------------------------------------------------


def test_killing_the_digester_under_load_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    """Digesters killed (SIGKILL) at random instants while bodies are acknowledged: never a
    500, and once a replacement has digested the inbox every acknowledged event is stored once."""
    gen = start_site(f"sqlite:///{tmp_path / 'events.db'}", tmp_path)
    site = next(gen)
    statuses: list[int] = []
    acked: list[list[str]] = []
    stop = threading.Event()

    def client(seed: int) -> None:
        headers = {"Authorization": site.key, "Content-Type": "application/json"}
        with httpx.Client(base_url=site.server.url, timeout=30) as http:
            n = 0
            while not stop.is_set():
                events = learn_events(100, offset=seed * 1000 + n)
                n += 1
                r = http.post("/caliper", content=envelope(events), headers=headers)
                statuses.append(r.status_code)
                if r.status_code == 200:
                    acked.append(ids(events))
                else:
                    assert int(r.headers["retry-after"]) > 0

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(4)]
    killed = 0
    try:
        assert site.server.proc is not None
        for t in threads:
            t.start()
        while killed < 6:  # kill the digester while it digests
            wait_for(lambda: len(statuses) > 0 and child_pids(site.server.proc.pid), what="a digester")  # type: ignore[union-attr]
            time.sleep(random.uniform(0.05, 0.3))
            for pid in child_pids(site.server.proc.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                    killed += 1
        stop.set()
        for t in threads:
            t.join(timeout=60)
        assert killed >= 6
        assert statuses
        assert set(statuses) <= {200, 429}, sorted(set(statuses))
        site.digested(timeout=60)
        log = site.server.log.read_text()
        assert "Traceback" not in log
        wanted = [i for batch in acked for i in batch]
        stored = dict(site.store.query("SELECT event_id, count(*) FROM events GROUP BY event_id"))
        assert all(i in stored for i in wanted), "an acknowledged event was lost"
        assert all(n == 1 for n in stored.values()), "an event was stored twice"
        assert len(stored) >= len(wanted)
    finally:
        stop.set()
        gen.close()


# --- 11.5: metrics ------------------------------------------------------------------------------


def test_metrics_labels_come_from_bounded_sets_and_need_a_key(site: Site) -> None:
    def series() -> int:
        return sum(1 for line in site.metrics().splitlines() if line and not line.startswith("#"))

    def random_round() -> None:
        events = learn_events(50)
        for e in events:
            e["type"] = "".join(random.choices(string.ascii_letters, k=20)) + "Event"
        assert site.post(envelope(events)).status_code == 200
        site.client.request("".join(random.choices(string.ascii_uppercase, k=8)), "/caliper")

    random_round()  # the first round may add the "other" series
    before = series()
    for _ in range(3):
        random_round()
    text = site.metrics()
    assert series() == before  # no new series, whatever types and methods are sent
    assert 'type="other"' in text
    assert not any(line.startswith("caliper_http_requests_total") and 'method="' in line
                   and not any(f'method="{m}"' in line for m in ("GET", "POST", "HEAD", "other"))
                   for line in text.splitlines())
    assert site.client.get("/metrics").status_code == 401
    assert site.client.get("/metrics", headers={"Authorization": "wrong-key"}).status_code in (401, 429)


# --- 11.21: wrong keys -------------------------------------------------------------------------


@pytest.fixture
def throttled(tmp_path: Path) -> Iterator[Site]:
    yield from start_site(f"sqlite:///{tmp_path / 'events.db'}", tmp_path, "--auth-failures", "5",
                          "--auth-window", "3")


def test_repeated_wrong_keys_are_throttled_per_client_and_counted(throttled: Site) -> None:
    site = throttled
    body = envelope(learn_events(1))
    assert site.post(body).status_code == 200  # a right key never counts
    codes = [site.post(body, key=f"guess-{i}").status_code for i in range(8)]
    assert codes[:5] == [401] * 5
    assert set(codes[5:]) == {429}
    r = site.post(body, key="guess-x")
    assert r.status_code == 429
    assert 1 <= int(r.headers["retry-after"]) <= 3
    assert r.headers["content-type"] == "application/problem+json"
    assert site.post(body).status_code == 429  # the client is throttled, whatever key it sends now
    time.sleep(3.2)  # the window passes
    assert site.post(envelope(learn_events(1))).status_code == 200
    text = site.metrics()
    assert "caliper_auth_failures_total 5.0" in text
    assert "caliper_auth_throttled_total 5.0" in text


# --- 11.8 / 10.15: a read-only database at start -------------------------------------------------


def test_a_database_read_only_at_start_recovers_by_itself(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    db = f"sqlite:///{path}"
    open_store(db).close()
    key = add_key(db, "learn")
    set_writable(path, False)
    server = Server(db, tmp_path / "server.log")
    try:
        server.start(ready="/healthz")
        ready = httpx.get(server.url + "/readyz", timeout=10)
        assert ready.status_code == 503
        assert "read-only" in ready.json()["detail"]
        events = learn_events(3)
        headers = {"Authorization": key, "Content-Type": "application/json"}
        r = httpx.post(server.url + "/caliper", content=envelope(events), headers=headers, timeout=30)
        assert r.status_code == 503
        assert int(r.headers["retry-after"]) > 0
        wait_for(lambda: "listening on" in server.log.read_text(), what="the start-up message")
        log = server.log.read_text()
        assert "read-only" in log
        assert "caliper-stream: serving" not in log
        set_writable(path, True)
        wait_for(lambda: httpx.get(server.url + "/readyz", timeout=10).status_code == 200, what="ready")
        r = httpx.post(server.url + "/caliper", content=envelope(events), headers=headers, timeout=30)
        assert r.status_code == 200
        with open_store(db) as store:
            wait_for(lambda: store.inbox_backlog().rows == 0, what="the digest")
            n = store.query(f"SELECT count(*) FROM events WHERE event_id IN ({', '.join('?' * 3)})", ids(events))
        assert n[0][0] == 3
        assert "RuntimeWarning" not in server.log.read_text()
    finally:
        set_writable(path, True)
        server.stop()


def test_a_digester_dying_of_sigbus_costs_no_restart(tmp_path: Path) -> None:
    """A mapped page of a file changed underneath is a SIGBUS, which no error handling catches:
    in the digester (which does most of the writing) it costs only the digester (mmap is off,
    but the WAL index is always mapped); the server keeps answering and replaces it."""
    path = tmp_path / "events.db"
    gen = start_site(f"sqlite:///{path}", tmp_path)
    site = next(gen)
    try:
        assert site.server.proc is not None
        assert site.post(envelope(learn_events(2))).status_code == 200
        [writer] = child_pids(site.server.proc.pid)
        os.kill(writer, signal.SIGBUS)
        r = site.post(envelope(learn_events(2)))
        assert r.status_code in (200, 503)
        # /readyz notices, reaps and replaces it (a zombie stays a child until reaped)
        wait_for(lambda: site.client.get("/readyz").status_code == 200
                 and writer not in child_pids(site.server.proc.pid), what="a new writer")  # type: ignore[union-attr]
        events = learn_events(3)
        assert site.post(envelope(events)).status_code == 200
        assert site.count_ids(ids(events)) == 3
        assert site.server.proc.poll() is None
        assert open_store(f"sqlite:///{path}").query("PRAGMA mmap_size") == [(0,)]
    finally:
        gen.close()


# --- 11.10: the WAL -----------------------------------------------------------------------------


def test_wal_is_truncated_when_idle_and_on_shutdown(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    wal = Path(f"{path}-wal")
    gen = start_site(f"sqlite:///{path}", tmp_path)
    site = next(gen)
    try:
        for i in range(5):
            assert site.post(envelope(learn_events(200, offset=i * 200))).status_code == 200
        assert wal.stat().st_size > 1_000_000
        wait_for(lambda: wal.stat().st_size == 0, timeout=15, what="the idle checkpoint")
        assert site.post(envelope(learn_events(100))).status_code == 200
        assert wal.stat().st_size > 0
    finally:
        gen.close()  # SIGTERM: the writer drains and checkpoints
    assert not wal.exists() or wal.stat().st_size == 0


# --- 10.15: start-up messages -------------------------------------------------------------------


def test_serve_announces_only_once_listening_and_never_warns(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'events.db'}"
    open_store(db).close()
    server = Server(db, tmp_path / "server.log").start()
    try:
        wait_for(lambda: "caliper-stream: serving" in server.log.read_text(), what="the announcement")
        assert "RuntimeWarning" not in server.log.read_text()
        busy = subprocess.run(
            [*server_cmd(), "serve", "--db", db, "--port", str(server.port)],
            capture_output=True, text=True, timeout=60,
        )
        assert busy.returncode != 0
        assert "serving" not in busy.stderr
        assert "address already in use" in busy.stderr.lower()
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--port", "80000", "port must be between 0 and 65535, not 80000"),
        ("--port", "-1", "port must be between 0 and 65535, not -1"),
        ("--header-timeout", "0", "header_timeout must be positive"),
        ("--auth-failures", "-1", "auth_failures must not be negative"),
        ("--max-client-connections", "0", "max_client_connections must be at least 1"),
    ],
)
def test_serve_refuses_settings_it_cannot_honour(tmp_path: Path, option: str, value: str, message: str) -> None:
    """Port 80000 used to be taken modulo 65536 by the resolver: serving on 14464 while saying 80000."""
    done = subprocess.run(
        [*server_cmd(), "serve", "--db", f"sqlite:///{tmp_path / 'events.db'}", option, value],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode != 0
    assert "serving" not in done.stderr
    assert "Traceback" not in done.stderr
    assert message in done.stderr


def server_cmd() -> list[str]:
    import sys

    return [sys.executable, "-m", "caliper_stream"]


# --- 11.11 / 10.10: the description and its page --------------------------------------------------


def test_openapi_describes_what_the_server_answers(site: Site) -> None:
    spec = site.client.get("/openapi.json").json()
    post = spec["paths"]["/caliper"]["post"]
    body = post["requestBody"]["content"]["application/json"]["schema"]
    assert {"$ref": "#/components/schemas/Envelope"} in body["oneOf"]
    envelope_schema = spec["components"]["schemas"]["Envelope"]
    assert set(envelope_schema["required"]) == {"sensor", "sendTime", "dataVersion", "data"}
    assert "content" not in post["responses"]["200"]  # an empty body, as answered
    for status in ("400", "401", "405", "408", "413", "415", "422", "429", "503"):
        assert "application/problem+json" in post["responses"][status]["content"], status
    assert "Retry-After" in post["responses"]["503"]["headers"]
    assert "Allow" in post["responses"]["405"]["headers"]
    # the answers are as described: an empty 200, a summary when asked, 405 with Allow
    plain = site.post(envelope(learn_events(1)), summary=False)
    assert plain.status_code == 200
    assert plain.content == b""
    assert "content-type" not in plain.headers
    summary = site.post(envelope(learn_events(1))).json()
    assert set(spec["components"]["schemas"]["Summary"]["required"]) <= set(summary)
    r = site.client.put("/caliper", headers={"Authorization": site.key})
    assert r.status_code == 405
    assert r.headers["content-type"] == "application/problem+json"
    assert {m.strip() for m in r.headers["allow"].split(",")} >= {"GET", "POST"}
    r = site.client.post("/healthz")
    assert r.status_code == 405
    assert "GET" in r.headers["allow"]


def test_docs_page_works_offline(site: Site) -> None:
    page = site.client.get("/docs")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert "http://" not in page.text
    assert "https://" not in page.text
    for asset in ("/docs/assets/swagger-ui.css", "/docs/assets/swagger-ui-bundle.js", "/docs/init.js"):
        assert asset in page.text
        r = site.client.get(asset)
        assert r.status_code == 200, asset
        assert len(r.content) > 20, asset
    assert "/openapi.json" in site.client.get("/docs/init.js").text
