"""Timing shared by the benchmarks: best-of repeated runs, which damps a noisy shared machine."""

from __future__ import annotations

import time
from collections.abc import Callable


def rate(fn: Callable[[], object], events: int, seconds: float) -> float:
    """Best events/s of `fn` (which handles `events` events per call) over runs within `seconds`."""
    fn()
    best = float("inf")
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return events / best
