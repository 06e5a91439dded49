"""Replaying a simulated term through a `Sensor`, and a throwaway local event store to replay into.

`replay` hands every planned event to the sensor at its simulated time, so the sensor's own
batching, nightly holding and retries decide what is posted when. Time is either jumped
(``speed`` None: a `ManualClock` set to each event's time, requests made inline, as fast as the
endpoint allows) or compressed (``speed`` X: a `ScaledClock`, the sensor's background thread
posting). Either way `replay` returns only when the outbox has drained, nightly events included.

`LocalServer` runs ``caliper-stream serve`` on a free loopback port over a SQLite file, as a
subprocess, with a fresh API key: what ``demo``, the end-to-end tests and the benchmarks use.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType

import httpx

from caliper_stream.sensor.client import Sensor
from caliper_stream.sensor.clock import ManualClock
from caliper_stream.sensor.outbox import Counts
from caliper_stream.simulate.term import Planned


def replay(
    planned: Iterable[Planned],
    sensor: Sensor,
    *,
    on_event: Callable[[Planned], None] | None = None,
    drain_timeout: float | None = None,
) -> Counts:
    """Send ``planned`` through ``sensor`` at simulated time; return its stats once drained."""
    clock = sensor.clock
    jump = isinstance(clock, ManualClock)
    due: float | None = None
    for item in planned:
        if jump:
            assert isinstance(clock, ManualClock)
            # stop at every moment the sensor has work in between (a batch's fill deadline, the
            # nightly run), so envelopes carry the sendTime they would have had in real time
            while due is not None and due < item.at:
                clock.set(due)
                due = sensor.pump().until
            clock.set(item.at)
            sensor.send(item.built)
            due = sensor.pump().until
        else:
            wait = item.at - clock.now()
            if wait > 0:
                clock.sleep(wait)
            sensor.send(item.built)
        if on_event is not None:
            on_event(item)
    sensor.drain(drain_timeout, include_held=True)
    return sensor.stats()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalServer:
    """``caliper-stream serve`` over ``db_path`` on a free loopback port (a subprocess)."""

    def __init__(self, db_path: str | Path, *, key_name: str = "simulator", port: int | None = None, log: Path | None = None) -> None:
        self.db_path = Path(db_path)
        self.db_url = f"sqlite:///{self.db_path.resolve()}"
        self.key_name = key_name
        self.port = port or free_port()
        self.log = log
        self.key = ""
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/caliper"

    def _cli(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([sys.executable, "-m", "caliper_stream", *args], capture_output=True, check=False, env=_env())

    def add_key(self, name: str) -> str:
        """Register a new key NAME in the database and return it."""
        done = self._cli("keys", "add", name, "--db", self.db_url)
        if done.returncode != 0:
            raise RuntimeError(f"keys add failed: {done.stderr.decode(errors='replace')}")
        return done.stdout.decode().strip()

    def start(self, timeout: float = 30.0) -> LocalServer:
        if not self.key:
            self.key = self.add_key(self.key_name)
        out = self.log.open("ab") if self.log is not None else subprocess.DEVNULL
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "caliper_stream", "serve", "--db", self.db_url, "--port", str(self.port)],
            stdout=out, stderr=out, env=_env(),
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"caliper-stream serve exited with status {self.proc.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status_code == 200:
                    return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"caliper-stream serve did not become healthy within {timeout:.0f} s")

    def stop(self, *, kill: bool = False) -> None:
        """Stop the server: gracefully, or ``kill`` it (SIGKILL, as a crash would)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            if kill:
                self.proc.kill()
            else:
                self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def digested(self, timeout: float = 60.0) -> None:
        """Wait until the server has digested its inbox: a 200 means the body is durable in the
        inbox, and its events are in the events table once digested."""
        from caliper_stream.errors import StoreError
        from caliper_stream.store import open_store

        deadline = time.monotonic() + timeout
        while True:
            try:
                store = open_store(f"sqlite:///{self.db_path}", migrate=False)
                try:
                    if not store.inbox_backlog().rows:
                        return
                finally:
                    store.close()
            except StoreError:  # not migrated yet: nothing inboxed
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"the inbox of {self.db_path} was not digested within {timeout:g} s")
            time.sleep(0.05)

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("CALIPER_STREAM_DB", None)
    return env
