"""When to answer 429: as soon as the events waiting for the writer exceed what it commits
within the latency budget.

A fixed threshold cannot fit every machine: 50,000 waiting events are 2 s of work for a fast
disk and 20 s for a slow one, and a sender with a 15 s timeout gives up and retries (piling on)
long before a too-high threshold triggers. So the threshold follows the measured commit rate:
``rate × latency_budget`` events, where rate is rows per second of commit time, averaged over
the recent commits (large commits weigh more, as they should: under load commits are large).
Until the first commits are measured, `START_RATE` stands in; `FLOOR` keeps a slow start from
refusing the first requests. An explicit ``--overload-events`` replaces the derived value.
"""

from __future__ import annotations

import time
from collections import deque

from starlette.types import ASGIApp, Receive, Scope, Send

from caliper_stream.server.problems import problem
from caliper_stream.store.writer import CommitInfo

#: Rows per second assumed before any commit is measured (a modest disk with SQLite).
START_RATE = 5_000.0
#: The threshold never goes below this many events (a few normal Learn batches).
FLOOR = 500
#: Weight kept by the past at each commit (≈ the last 20 commits count).
DECAY = 0.95


class Overload:
    """The 429 threshold: fixed, or derived from the commit rate and the latency budget."""

    def __init__(self, budget: float, fixed: int | None = None) -> None:
        self.budget = budget
        self.fixed = fixed
        self._rows = START_RATE  # decayed sums: rows over seconds is the recent rate
        self._seconds = 1.0

    def commit(self, info: CommitInfo) -> None:
        """Writer hook: learn the rate from one transaction."""
        if not info.ok or info.rows <= 0 or info.seconds <= 0:
            return
        self._rows = self._rows * DECAY + info.rows
        self._seconds = self._seconds * DECAY + info.seconds

    @property
    def rate(self) -> float:
        """Recent rows committed per second of commit time."""
        return self._rows / self._seconds

    @property
    def limit(self) -> int:
        """Waiting events above which new requests get 429."""
        if self.fixed is not None:
            return self.fixed
        return max(FLOOR, int(self.rate * self.budget))


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
