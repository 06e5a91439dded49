"""Clocks for the sensor: wall time, a hand-moved clock for tests, a fast-forward clock for replays.

The sensor reads every time (nightly run, batch fill, retry backoff) from its clock and waits
through it, so a test moves a `ManualClock` past 02:00 instead of sleeping, and the simulator
replays a term at ``speed`` times real time with a `ScaledClock`.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Protocol


class Clock(Protocol):
    """Epoch seconds, and a way to let some of them pass."""

    #: clock seconds per real second (``inf`` for a clock that jumps)
    rate: float

    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...

    async def asleep(self, seconds: float) -> None: ...


class SystemClock:
    """Wall-clock time."""

    rate = 1.0

    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    async def asleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0))


class ManualClock:
    """A clock that moves only when told to: sleeping advances it instantly."""

    rate = float("inf")

    def __init__(self, start: float) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += max(seconds, 0.0)

    def set(self, when: float) -> None:
        with self._lock:
            self._now = max(self._now, when)

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)

    async def asleep(self, seconds: float) -> None:
        self.advance(seconds)
        await asyncio.sleep(0)


class ScaledClock:
    """Time starting at ``start`` and running ``speed`` times faster than real time."""

    def __init__(self, start: float, speed: float) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.rate = speed
        self._start = start
        self._t0 = time.monotonic()

    def now(self) -> float:
        return self._start + (time.monotonic() - self._t0) * self.rate

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds / self.rate)

    async def asleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0) / self.rate)


class _FunctionClock:
    """A bare ``now()`` function as a clock; waiting for it is real waiting, in short naps."""

    rate = 1.0

    def __init__(self, now: Callable[[], float]) -> None:
        self.now = now

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(min(seconds, 0.05))

    async def asleep(self, seconds: float) -> None:
        await asyncio.sleep(min(max(seconds, 0), 0.05))


def as_clock(clock: Clock | Callable[[], float] | None) -> Clock:
    """A `Clock` from a clock, a zero-argument function returning epoch seconds, or None (wall time)."""
    if clock is None:
        return SystemClock()
    if hasattr(clock, "now"):
        return clock  # type: ignore[return-value]
    return _FunctionClock(clock)
