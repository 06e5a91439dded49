"""A real ``caliper-stream serve`` process on a free loopback port, for end-to-end tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from caliper_stream.store import Store, open_store

READY_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``python -m caliper_stream ARGS`` and return its result."""
    return subprocess.run(
        [sys.executable, "-m", "caliper_stream", *args],
        capture_output=True, text=True, timeout=60, check=check,
    )


def add_key(db: str, name: str) -> str:
    """A new API key (the CLI prints it alone on stdout)."""
    out = cli("keys", "add", name, "--db", db).stdout
    assert out.count("\n") == 1, out
    return out.strip()


class Server:
    """One server process; `start` waits for /readyz, `stop`/`kill` always reap it."""

    def __init__(self, db: str, log: Path, *args: str) -> None:
        self.db = db
        self.log = log
        self.args = args
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, ready: str = "/readyz") -> Server:
        """Start and wait until `ready` answers 200 (``/healthz`` for a server not meant to be
        ready)."""
        for _attempt in range(3):  # a free port can be taken between probing and binding
            self.port = free_port()
            with self.log.open("ab") as log:
                self.proc = subprocess.Popen(
                    [sys.executable, "-m", "caliper_stream", "serve", "--port", str(self.port),
                     "--db", self.db, *self.args],
                    stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
                    env={**os.environ, "PYTHONUNBUFFERED": "1"},
                )
            if self._wait_ready(ready):
                return self
            self.kill()
        raise RuntimeError(f"server did not become ready; log:\n{self.log.read_text()[-4000:]}")

    def _wait_ready(self, ready: str) -> bool:
        assert self.proc is not None
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                if httpx.get(self.url + ready, timeout=2).status_code == 200:
                    return True
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        """SIGTERM (graceful: in-flight requests finish, the writer drains), then SIGKILL."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=15)
        self.kill()

    def kill(self) -> None:
        """SIGKILL to the server's process group (its workers too): no shutdown code runs."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # the group this server leads, nothing else
        self.proc.wait(timeout=15)


class Site:
    """A running server with one API key, its database and a client."""

    def __init__(self, server: Server, key: str, name: str) -> None:
        self.server = server
        self.key = key
        self.name = name
        self.client = httpx.Client(base_url=server.url, timeout=60)
        self.store: Store = open_store(server.db)

    def post(self, body: bytes, *, summary: bool = True, key: str | None = None,
             headers: dict[str, str] | None = None, bearer: bool = True) -> httpx.Response:
        h = {"Content-Type": "application/json"}
        k = self.key if key is None else key
        if k:
            h["Authorization"] = f"Bearer {k}" if bearer else k
        if summary:
            h["Prefer"] = "return=representation"
        h.update(headers or {})
        return self.client.post("/caliper", content=body, headers=h)

    def metrics(self) -> str:
        """The ``/metrics`` text (it needs a key unless the server runs with --public-metrics)."""
        r = self.client.get("/metrics", headers={"Authorization": self.key})
        assert r.status_code == 200, r.text
        return r.text

    def digested(self, timeout: float = 30.0) -> None:
        """Wait until the inbox is empty: a 200 without a summary means the body is durable in
        the inbox; its events are in the events table once the digester has been through it."""
        deadline = time.monotonic() + timeout
        while self.store.inbox_backlog().rows:
            assert time.monotonic() < deadline, "the inbox was not digested in time"
            time.sleep(0.05)

    def count(self, where: str = "1 = 1", params: tuple[object, ...] = ()) -> int:
        return int(self.store.query(f"SELECT count(*) FROM events WHERE {where}", params)[0][0])

    def count_ids(self, ids: list[str]) -> int:
        marks = ", ".join("?" * len(ids))
        return self.count(f"event_id IN ({marks})", tuple(ids))

    def close(self) -> None:
        self.client.close()
        self.store.close()


def start_site(db: str, tmp: Path, *args: str, name: str = "learn-prod") -> Iterator[Site]:
    """Create a key, start a server, yield; always stop the server."""
    open_store(db).close()
    key = add_key(db, name)
    server = Server(db, tmp / "server.log", *args)
    try:
        server.start()
        site = Site(server, key, name)
        try:
            yield site
        finally:
            site.close()
    finally:
        server.stop()


#: PostgreSQL server for the ``postgres`` tests (each module gets a schema of its own).
PG = os.environ.get("CALIPER_STREAM_TEST_PG", "postgresql://127.0.0.1:5432/test")

def pg_schema_url() -> Iterator[str]:
    """A URL whose search_path is a fresh schema, dropped afterwards. PostgreSQL unreachable:
    skipped locally, a failure in CI (CI=true) so that the backend is never silently untested."""
    schema = f"cs_server_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(PG, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL unreachable in CI: {exc}")
        pytest.skip(f"PostgreSQL unreachable: {exc}; set CALIPER_STREAM_TEST_PG or start the server")
    with admin:
        admin.execute(f"CREATE SCHEMA {schema}")
        try:
            sep = "&" if "?" in PG else "?"
            yield f"{PG}{sep}options=-c%20search_path%3D{schema}"
        finally:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")
