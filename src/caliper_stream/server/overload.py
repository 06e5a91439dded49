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
