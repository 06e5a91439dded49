"""The sensor drivers: `Sensor` (sync, httpx.Client) and `AsyncSensor` (httpx.AsyncClient).

Both are thin: `Flow` decides, they store events, post the envelopes it returns and report the
responses. `Sensor` sends from a background thread (``background=True``) so that ``send()``
only stores the event; with ``background=False`` (or a `ManualClock`) nothing happens until
``pump()``, ``flush()`` or ``drain()`` is called, which is what deterministic tests want.

The outbox defaults to ``caliper-outbox.db`` in the working directory: a sensor is durable
unless told otherwise (``outbox=":memory:"``).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import httpx

from caliper_stream.sensor.builders.base import Built, encode
from caliper_stream.sensor.clock import Clock, as_clock
from caliper_stream.sensor.flow import Backoff, Flow, Outcome, Send, Wait
from caliper_stream.sensor.outbox import Counts, Outbox

Auth = Literal["raw", "bearer"]
EventLike = Built | dict[str, Any] | bytes
#: Longest real-time nap of a waiting driver, so that a fast clock or a new event is noticed.
_NAP = 0.25


def _item(event: EventLike, nightly: bool | None) -> tuple[bytes, bool]:
    if isinstance(event, Built):
        return encode(event.event), event.nightly if nightly is None else nightly
    if isinstance(event, bytes):
        return event, bool(nightly)
    return encode(event), bool(nightly)


class _Base:
    """What both drivers share: configuration, the flow, stats."""

    def __init__(
        self,
        url: str,
        api_key: str,
        *,
        auth: Auth = "raw",
        batch_size: int = 100,
        version: str = "1.1",
        outbox: str | Path | Outbox = "caliper-outbox.db",
        nightly_at: str = "02:00",
        timezone: str = "UTC",
        max_delay: float = 1.0,
        clock: Clock | Callable[[], float] | None = None,
        sensor_id: str | None = None,
        timeout: float = 30.0,
        backoff: Backoff | None = None,
        seed: int | None = None,
        concurrency: int = 1,
    ) -> None:
        if auth not in ("raw", "bearer"):
            raise ValueError("auth must be 'raw' or 'bearer'")
        self.url = url
        self.clock: Clock = as_clock(clock)
        self.outbox = outbox if isinstance(outbox, Outbox) else Outbox(outbox)
        self.flow = Flow(
            self.outbox,
            sensor_id=sensor_id or str(uuid.uuid4()),
            version=version,
            batch_size=batch_size,
            max_delay=max_delay,
            nightly_at=nightly_at,
            timezone=timezone,
            backoff=backoff,
            rng=random.Random(seed),
            concurrency=concurrency,
        )
        self.concurrency = concurrency
        self.headers = {
            "Content-Type": "application/json",
            "Authorization": api_key if auth == "raw" else f"Bearer {api_key}",
        }
        self.timeout = timeout
        self._lock = threading.RLock()
        self.last: Outcome | None = None

    def _store(self, events: Iterable[EventLike], nightly: bool | None) -> int:
        items = [_item(e, nightly) for e in events]
        with self._lock:
            return self.flow.add(items, self.clock.now())

    def _poll(self, flush: bool) -> Send | Wait:
        with self._lock:
            return self.flow.poll(self.clock.now(), flush=flush)

    def _handle(self, send: Send, response: httpx.Response | None, error: str | None) -> Outcome:
        with self._lock:
            if response is None:
                outcome = self.flow.handle(send, self.clock.now(), error=error)
            else:
                outcome = self.flow.handle(
                    send, self.clock.now(), status=response.status_code, headers=response.headers, body=response.content
                )
        self.last = outcome
        return outcome

    def _abandon(self, send: Send) -> None:
        with self._lock:
            self.flow.abandon(send)

    def _nap(self, until: float | None) -> float:
        """Real seconds to wait for ``until`` on this clock (bounded by `_NAP`)."""
        if until is None:
            return _NAP
        ahead = until - self.clock.now()
        if self.clock.rate == float("inf"):  # a hand-moved clock: time passes only when moved
            return _NAP if ahead > 0 else 0.0
        return min(max(ahead / self.clock.rate, 0.0), _NAP)

    def stats(self) -> Counts:
        """pending (of which ``held`` for the nightly run), failed, sent, retries."""
        return self.outbox.counts(self.clock.now())

    def _settled(self, include_held: bool) -> bool:
        counts = self.stats()
        return counts.pending == 0 or (not include_held and counts.pending == counts.held)


class Sensor(_Base):
    """A durable, batching Caliper sensor over ``httpx.Client`` (see the module docstring)."""

    def __init__(
        self,
        url: str,
        api_key: str,
        *,
        transport: httpx.BaseTransport | None = None,
        background: bool = True,
        **options: Any,
    ) -> None:
        super().__init__(url, api_key, **options)
        self.http = httpx.Client(transport=transport, timeout=self.timeout)
        self._pool = ThreadPoolExecutor(self.concurrency, "caliper-post") if self.concurrency > 1 else None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if background:
            self._thread = threading.Thread(target=self._run, name="caliper-sensor", daemon=True)
            self._thread.start()

    def send(self, event: EventLike, *, nightly: bool | None = None) -> None:
        """Store one event durably; it is sent later (a `Built` knows whether it is nightly)."""
        self.send_many([event], nightly=nightly)

    def send_many(self, events: Iterable[EventLike], *, nightly: bool | None = None) -> int:
        n = self._store(events, nightly)
        self._wake.set()
        return n

    def _post(self, send: Send) -> Outcome:
        try:
            response = self.http.post(self.url, content=send.body, headers=self.headers)
        except httpx.HTTPError as exc:
            return self._handle(send, None, f"{type(exc).__name__}: {exc}")
        except BaseException:
            self._abandon(send)  # not a delivery problem: the events stay pending, the error surfaces
            raise
        return self._handle(send, response, None)

    def pump(self, *, flush: bool = False) -> Wait:
        """Send everything that is due now (up to ``concurrency`` requests at a time); return
        when to look again."""
        if self._pool is None:
            while True:
                step = self._poll(flush)
                if isinstance(step, Wait):
                    return step
                self._post(step)
        running: set[Future[Outcome]] = set()
        while True:
            step = self._poll(flush)
            if isinstance(step, Send):
                running.add(self._pool.submit(self._post, step))
                continue
            if not running:
                return step
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                future.result()

    def flush(self) -> Counts:
        """Send everything due now without waiting for batches to fill."""
        self.pump(flush=True)
        return self.stats()

    def drain(self, timeout: float | None = None, *, include_held: bool = False) -> bool:
        """Send until nothing is pending (``include_held``: wait for the nightly run too).
        Returns False when ``timeout`` real seconds passed first; failed events don't count."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._settled(include_held):
            if deadline is not None and time.monotonic() >= deadline:
                return False
            step = self.pump(flush=True)
            if self._settled(include_held):
                break
            if step.until is None:
                time.sleep(0.01)  # another thread's request is in flight
            elif self.clock.rate == float("inf"):
                self.clock.sleep(step.until - self.clock.now())
            else:
                time.sleep(max(self._nap(step.until), 0.005))
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                step = self.pump()
            except Exception:  # keep sending whatever happens; the outbox holds the events
                step = Wait(None)
                self._stop.wait(_NAP)
            self._wake.wait(self._nap(step.until))
            self._wake.clear()

    def close(self) -> None:
        """Stop the background sender (events not yet sent stay in the outbox)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._pool is not None:
            self._pool.shutdown()
        self.http.close()
        self.outbox.close()

    def __enter__(self) -> Sensor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncSensor(_Base):
    """The same sensor over ``httpx.AsyncClient``; use ``async with`` to run its sender task."""

    def __init__(
        self,
        url: str,
        api_key: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        **options: Any,
    ) -> None:
        super().__init__(url, api_key, **options)
        self.http = httpx.AsyncClient(transport=transport, timeout=self.timeout)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def send(self, event: EventLike, *, nightly: bool | None = None) -> None:
        await self.send_many([event], nightly=nightly)

    async def send_many(self, events: Iterable[EventLike], *, nightly: bool | None = None) -> int:
        n = self._store(events, nightly)
        self._wake.set()
        return n

    async def _post(self, send: Send) -> Outcome:
        try:
            response = await self.http.post(self.url, content=send.body, headers=self.headers)
        except httpx.HTTPError as exc:
            return self._handle(send, None, f"{type(exc).__name__}: {exc}")
        except BaseException:  # cancelled, or not a delivery problem: the events stay pending
            self._abandon(send)
            raise
        return self._handle(send, response, None)

    async def pump(self, *, flush: bool = False) -> Wait:
        running: set[asyncio.Task[Outcome]] = set()
        try:
            while True:
                step = self._poll(flush)
                if isinstance(step, Send):
                    running.add(asyncio.create_task(self._post(step)))
                    continue
                if not running:
                    return step
                done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()
        finally:
            for task in running:
                task.cancel()

    async def flush(self) -> Counts:
        await self.pump(flush=True)
        return self.stats()

    async def drain(self, timeout: float | None = None, *, include_held: bool = False) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._settled(include_held):
            if deadline is not None and time.monotonic() >= deadline:
                return False
            step = await self.pump(flush=True)
            if self._settled(include_held):
                break
            if step.until is None:
                await asyncio.sleep(0.01)
            elif self.clock.rate == float("inf"):
                await self.clock.asleep(step.until - self.clock.now())
            else:
                await asyncio.sleep(max(self._nap(step.until), 0.005))
        return True

    async def _run(self) -> None:
        while True:
            step = await self.pump()
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._nap(step.until))

    async def __aenter__(self) -> AsyncSensor:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.http.aclose()
        self.outbox.close()

