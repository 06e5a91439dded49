"""Every decision of the sensor, without I/O: what to send, when, and what a response means.

The drivers (`caliper_stream.sensor.client`) only move bytes: they ask `Flow.poll` for the next
step, perform the HTTP request it returns, and report the outcome to `Flow.handle`. Sync and
async sensors therefore behave identically, and the state machine is tested without a network.

Rules:

- **Batching.** An envelope holds at most ``batch_size`` events. An immediate event waits at
  most ``max_delay`` seconds for its batch to fill; `poll(flush=True)` does not wait.
- **Nightly holding.** Nightly events (instructor grading, calculated grade snapshots) are
  due at the next ``nightly_at`` in ``timezone`` after they were stored, and are then sent in
  bulk, ``batch_size`` at a time, with no fill wait.
- **Outcomes.** Any 2xx removes the events (202 is success too). 408, 425, 429, 5xx and network
  errors are retried with exponential backoff and jitter; ``Retry-After`` (seconds or an HTTP
  date) is honoured on 429 and 503. Any other status is a definitive refusal: the events stay
  in the outbox as *failed* with the status and the response body.
- **Requests in flight.** At most ``concurrency`` (default 1: envelopes arrive in order; more
  overlaps requests with the endpoint's work at the price of order). An event is never in two
  requests at once; a crash mid-request can only cause a re-send, which the store
  deduplicates by event key.
- ``sendTime`` is the time the envelope is made, just before the request.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from zoneinfo import ZoneInfo

import msgspec

from caliper_stream.sensor.builders.base import CTX_1P1, ms_time
from caliper_stream.sensor.outbox import Counts, Outbox

RETRYABLE = frozenset({408, 425, 429, 500, 502, 503, 504})
_RETRY_AFTER = frozenset({429, 503})
MAX_REASON = 4096
MAX_RETRY_AFTER = 3600.0


class Send(msgspec.Struct, frozen=True):
    """Post ``body`` (one envelope holding the events ``ids``)."""

    ids: tuple[int, ...]
    body: bytes
    send_time: str


class Wait(msgspec.Struct, frozen=True):
    """Nothing to send now; poll again at ``until`` (None: when a new event arrives)."""

    until: float | None = None


class Outcome(msgspec.Struct, frozen=True):
    """What `Flow.handle` decided: ``sent``, ``retry`` (at ``retry_at``) or ``failed``."""

    verdict: str
    events: int
    retry_at: float | None = None


class Backoff(msgspec.Struct, frozen=True):
    """Exponential backoff with jitter: ``base * 2**(n-1)`` capped at ``cap``, then a random
    share of it (half fixed, half jitter) so that many senders do not retry in lockstep."""

    base: float = 0.5
    cap: float = 300.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        d = min(self.cap, self.base * float(2 ** max(attempt - 1, 0)))
        return d / 2 + rng.uniform(0, d / 2)


def parse_hhmm(value: str) -> tuple[int, int]:
    hh, _, mm = value.partition(":")
    hour, minute = int(hh), int(mm or 0)
    if not (0 <= hour < 24 and 0 <= minute < 60):
        raise ValueError(f"nightly time must be HH:MM, got {value!r}")
    return hour, minute


def next_nightly(after: float, at: tuple[int, int], tz: ZoneInfo) -> float:
    """The first ``at`` (local wall time in ``tz``) strictly after the epoch time ``after``."""
    local = datetime.fromtimestamp(after, tz)
    day = local.date()
    for _ in range(3):
        candidate = datetime(day.year, day.month, day.day, at[0], at[1], tzinfo=tz).timestamp()
        if candidate > after:
            return candidate
        day += timedelta(days=1)
    raise AssertionError("unreachable")  # pragma: no cover


def retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return min(max(when.timestamp() - now, 0.0), MAX_RETRY_AFTER)


class Flow:
    """The sensor's state machine over an `Outbox` (see the module docstring)."""

    def __init__(
        self,
        outbox: Outbox,
        *,
        sensor_id: str,
        version: str = "1.1",
        batch_size: int = 100,
        max_delay: float = 1.0,
        nightly_at: str = "02:00",
        timezone: str = "UTC",
        backoff: Backoff | None = None,
        rng: random.Random | None = None,
        concurrency: int = 1,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if version not in ("1.0", "1.1"):
            raise ValueError(f"unsupported Caliper version {version!r} (1.0 or 1.1)")
        self.outbox = outbox
        self.batch_size = batch_size
        self.max_delay = max_delay
        self.nightly_at = parse_hhmm(nightly_at)
        self.tz = ZoneInfo(timezone)
        self.backoff = backoff or Backoff()
        self.rng = rng or random.Random()
        self.concurrency = concurrency
        self.inflight: list[Send] = []
        self._busy: set[int] = set()
        head = b'{"sensor":' + msgspec.json.encode(sensor_id) + b',"sendTime":"'
        self._head = head
        self._version = b'",' if version == "1.0" else b'","dataVersion":"' + CTX_1P1.encode() + b'",'

    # -- input -------------------------------------------------------------------------------

    def add(self, events: Iterable[tuple[bytes, bool]], now: float) -> int:
        """Store events ``(json, nightly)``; committed when this returns."""
        nightly_due: float | None = None
        rows = []
        for body, nightly in events:
            if nightly and nightly_due is None:
                nightly_due = next_nightly(now, self.nightly_at, self.tz)
            rows.append((body, nightly, now, nightly_due if nightly and nightly_due is not None else now))
        if rows:
            self.outbox.add(rows)
        return len(rows)

    # -- decisions ---------------------------------------------------------------------------

    def poll(self, now: float, *, flush: bool = False) -> Send | Wait:
        """The next step at ``now``: a request to make, or how long to wait."""
        if len(self.inflight) >= self.concurrency:
            return Wait(None)
        rows = self.outbox.ready(now, self.batch_size + len(self._busy))
        if self._busy:
            rows = [r for r in rows if r.id not in self._busy][: self.batch_size]
        if not rows:
            return Wait(None if self.inflight else self.outbox.next_wake())
        if len(rows) < self.batch_size and not flush:
            fresh = all(not r.nightly and r.attempts == 0 for r in rows)
            fill_until = rows[0].created + self.max_delay
            if fresh and fill_until > now:
                return Wait(fill_until)
        send_time = ms_time(int(now * 1000))
        body = b"".join(
            (self._head, send_time.encode(), self._version, b'"data":[', b",".join(r.body for r in rows), b"]}")
        )
        send = Send(tuple(r.id for r in rows), body, send_time)
        self.inflight.append(send)
        self._busy.update(send.ids)
        return send

    def handle(
        self,
        send: Send,
        now: float,
        *,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
        error: str | None = None,
    ) -> Outcome:
        """Record the outcome of ``send``: a response (``status``) or a network ``error``."""
        self._release(send)
        ids = list(send.ids)
        if status is not None and 200 <= status < 300:
            self.outbox.delivered(ids)
            return Outcome("sent", len(ids))
        reason = error or body[:MAX_REASON].decode("utf-8", "replace") or f"HTTP {status}"
        if status is None or status in RETRYABLE:
            wait = None
            if status in _RETRY_AFTER and headers is not None:
                wait = retry_after(headers.get("retry-after") or headers.get("Retry-After"), now)
            if wait is None:
                wait = self.backoff.delay(self.outbox.attempts(ids) + 1, self.rng)
            self.outbox.retry_later(ids, now + wait, status, reason)
            return Outcome("retry", len(ids), now + wait)
        self.outbox.fail(ids, status, reason)
        return Outcome("failed", len(ids))

    def abandon(self, send: Send | None = None) -> None:
        """Forget a request in flight (default: all) without an outcome; its events stay pending."""
        for s in [send] if send is not None else list(self.inflight):
            self._release(s)

    def _release(self, send: Send) -> None:
        for i, s in enumerate(self.inflight):
            if s is send:
                del self.inflight[i]
                self._busy.difference_update(send.ids)
                return
        raise RuntimeError("not a request in flight: give handle() what poll() returned")

    def stats(self, now: float | None = None) -> Counts:
        return self.outbox.counts(now)
