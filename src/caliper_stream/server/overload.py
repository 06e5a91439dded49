"""When to answer 429: when the digest backlog (inbox rows not yet digested, plus the events
this process holds and has not committed) passes ``--inbox-backlog``, and when more requests
are in progress than the server finishes within the latency budget (`RequestGate`).

The inbox decouples acknowledging from digesting, so the commit latency of requests no longer
grows with the load; what grows is the backlog. Bounding it bounds how far the stored events
may lag behind what was acknowledged (and the disk the inbox takes), whatever the machine:
``backlog / digest rate`` is the lag, and ``/readyz`` and ``/metrics`` say both. On
PostgreSQL the inbox is shared, so every replica sees (and refuses on) the same backlog.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections import deque

from starlette.types import ASGIApp, Receive, Scope, Send

from caliper_stream.server.problems import problem
from caliper_stream.store.base import Backlog, Store

#: Seconds between two looks at the inbox's size.
WATCH_SECONDS = 0.5
#: Weight kept by the past at each digest report (≈ the last 20 count) for the rate.
DECAY = 0.9

_SIZE = re.compile(r"^\s*(\d+)\s*([kmgt]?i?b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_backlog(text: str) -> tuple[int | None, int | None]:
    """``--inbox-backlog``: a number of events (``100000``) or of bytes (``512MiB``, ``2GB``);
    returns (events, bytes), one of them None."""
    m = _SIZE.match(text)
    if m is None:
        raise ValueError(f"--inbox-backlog must be a number of events or a size such as 512MiB, not {text!r}")
    number, unit = int(m.group(1)), (m.group(2) or "").lower()
    if not unit:
        return number, None
    return None, number * _UNITS[unit]


class Overload:
    """The digest backlog and its limit; `watch` keeps the inbox's size current."""

    def __init__(self, store: Store, max_events: int | None, max_bytes: int | None) -> None:
        self.store = store
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.inbox = Backlog()
        #: events this process holds (parsed or inboxed) and has not committed yet
        self.pending = 0
        self._events = 0.0  # decayed sums: events over seconds is the recent digest rate
        self._seconds = 0.0
        self._last = time.monotonic()

    def refusal(self) -> str | None:
        """Why a new request gets 429 now, or None."""
        events = self.inbox.events + self.pending
        if self.max_events is not None and events > self.max_events:
            return f"{events} events are waiting to be digested (limit {self.max_events}); retry later"
        if self.max_bytes is not None and self.inbox.bytes > self.max_bytes:
            return f"{self.inbox.bytes} bytes are waiting to be digested (limit {self.max_bytes}); retry later"
        return None

    def digested(self, events: int) -> None:
        """Digester hook: learn the rate from one digest."""
        now = time.monotonic()
        self._events = self._events * DECAY + events
        self._seconds = self._seconds * DECAY + (now - self._last)
        self._last = now

    @property
    def rate(self) -> float:
        """Recent events digested per second (by this server's digester)."""
        return self._events / self._seconds if self._seconds > 0 else 0.0

    async def refresh(self) -> Backlog:
        self.inbox = await asyncio.to_thread(self.store.inbox_backlog)
        return self.inbox

    async def watch(self, interval: float = WATCH_SECONDS) -> None:
        """Keep `inbox` current (a store that cannot answer keeps the last value)."""
        while True:
            with contextlib.suppress(Exception):
                await self.refresh()
            await asyncio.sleep(interval)


#: Requests always let in at once, whatever the measured rate (a cold start measures nothing).
FLOOR_REQUESTS = 8
#: Share of the budget the *mean* wait may take: waits vary (the slowest requests of a burst
#: wait several times the mean), so the mean is kept well inside the budget.
MEAN_SHARE = 0.5
#: Seconds of completions the request rate is measured over.
RATE_WINDOW = 5.0


class RequestGate:
    """ASGI middleware: 429 for a POST to `path` when the requests already in progress would
    take longer than the latency budget to finish at the measured completion rate (Little's
    law: waiting time ≈ requests in progress / completions per second).

    This bounds what the event threshold cannot see: requests still being read or parsed
    (under load the CPU, not the disk, is the bottleneck). The refusal costs no body read and
    no parse, so an overloaded server sheds load cheaply."""

    def __init__(self, app: ASGIApp, path: str, budget: float, retry_after: int, *, enabled: bool = True) -> None:
        self.app = app
        self.path = path
        self.budget = budget
        self.retry_after = retry_after
        self.enabled = enabled
        self.inflight = 0
        self._done: deque[float] = deque()
        self._busy_since: float | None = None

    def rate(self, now: float) -> float:
        """Completions per second over the busy part of the last `RATE_WINDOW` seconds."""
        while self._done and self._done[0] < now - RATE_WINDOW:
            self._done.popleft()
        if not self._done:
            return 0.0
        span = RATE_WINDOW if self._busy_since is None else min(RATE_WINDOW, now - self._busy_since)
        return len(self._done) / max(span, 0.5)

    def admits(self) -> bool:
        if not self.enabled or self.inflight < FLOOR_REQUESTS:
            return True
        rate = self.rate(time.monotonic())
        # nothing measured yet (a cold burst): only the floor gets in until the first finish
        return self.inflight < rate * self.budget * MEAN_SHARE

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        if not self.admits():
            response = problem(
                "overloaded",
                f"{self.inflight} requests are in progress, more than this server finishes within "
                f"{self.budget:g} s; retry later",
                retry_after=self.retry_after,
            )
            await response(scope, receive, send)
            return
        now = time.monotonic()
        if self._busy_since is None or (self.inflight == 0 and self.rate(now) == 0.0):
            self._busy_since = now  # a busy period starts: measure the rate from here
        self.inflight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.inflight -= 1
            self._done.append(time.monotonic())
