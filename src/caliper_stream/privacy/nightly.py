"""Retention run by the server every night at the time ``retention schedule HH:MM`` stored.

A daemon thread sleeps until the next run, applies `retention.apply` (bounded batches, so
ingest keeps committing between them) and goes back to sleep; `stop` ends it at shutdown.
"""

from __future__ import annotations

import re
import sys
import threading
from datetime import UTC, datetime, timedelta

from caliper_stream.errors import CaliperStreamError
from caliper_stream.privacy import retention
from caliper_stream.store.base import Store
from caliper_stream.store.common import Tx

_NAME = "retention_at"
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def set_schedule(store: Store, at: str | None) -> None:
    """Store the daily time (``HH:MM`` UTC), or remove it when `at` is None."""
    if at is not None and not _HHMM.match(at):
        raise ValueError(f"{at!r} is not a time of day HH:MM")

    def write(tx: Tx) -> None:
        tx.execute("DELETE FROM privacy_settings WHERE name = ?", (_NAME,))
        if at is not None:
            tx.execute("INSERT INTO privacy_settings (name, value) VALUES (?, ?)", (_NAME, at))

    store.transact(write)


def schedule(store: Store) -> str | None:
    rows = store.query("SELECT value FROM privacy_settings WHERE name = ?", (_NAME,))
    return str(rows[0][0]) if rows else None


def next_run(at: str, now: datetime) -> datetime:
    hour, minute = (int(x) for x in at.split(":"))
    run = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    return run if run > now else run + timedelta(days=1)


class Nightly:
    """The server's retention thread (does nothing when the store has no schedule)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        try:
            at = schedule(self.store)
        except CaliperStreamError:
            return
        if at is None:
            return
        self._thread = threading.Thread(target=self._run, args=(at,), name="retention", daemon=True)
        self._thread.start()

    def _run(self, at: str) -> None:
        while True:
            wait = (next_run(at, datetime.now(UTC)) - datetime.now(UTC)).total_seconds()
            if self._stop.wait(max(wait, 0)):
                return
            try:
                retention.apply(self.store, actor="serve:nightly")
            except CaliperStreamError as exc:
                print(f"caliper-stream: nightly retention failed: {exc}", file=sys.stderr)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
