"""The async seam between the server and a (sync) store: one writer thread, group commit.

Every request hands its work to `Writer.write` and awaits it: an `Inboxed` body (the usual
case: the body goes to the inbox, digested behind) or a prepared `Batch` (bodies the HTTP
layer parses itself). One thread drains the queue: it takes the first waiting item plus as
many more as fit in `max_rows`, writes them in ONE transaction (`Store.inbox_put` for bodies,
`Store.write_batches` for batches; a group mixing both takes one of each) and then wakes every
request with *its own* `WriteResult` (empty for a body: its events are counted when digested). Under load, many small requests therefore cost one commit (one fsync) together;
with no load a request is written alone at once, so group commit adds no latency.

A batch larger than `max_rows` is still written in one transaction of its own. A commit that
fails because the database cannot commit (`StoreUnavailable`: read-only, disk full, down) fails
every request whose batch was in it; nothing of theirs was stored, so they may all retry. A
commit refused because of the *data* (any other `StoreError`, e.g. a value a backend cannot
hold) is retried batch by batch and then in halves of the failing batch, down to the events the
database refuses, which become dead letters with the database's reason: one request's data
never fails another's, and a poison event costs only itself.

When the queue has been empty for `IDLE_SECONDS` after a commit, and when it stops, the writer
checkpoints the store (SQLite: the WAL is copied back and truncated).

Metrics: counters on the writer (`commits`, `rows_committed`, `batches_committed`, `failures`,
`last_commit_rows`, `last_commit_seconds`, `commit_seconds_total`) and an optional
``on_commit(CommitInfo)`` callback, called on the writer thread after each transaction, e.g. to
feed Prometheus histograms of commit size and latency.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError

import msgspec

from caliper_stream.errors import StoreError, StoreUnavailable
from caliper_stream.ingest import Batch, DeadLetter
from caliper_stream.problems import Problem
from caliper_stream.store.base import Inboxed, Store, WriteResult

#: Default cap of rows (events + dead letters) grouped into one transaction.
MAX_ROWS = 2000
#: Seconds without a request after which the store is checkpointed.
IDLE_SECONDS = 2.0


class CommitInfo(msgspec.Struct, frozen=True):
    """One transaction the writer ran (successful or not)."""

    batches: int
    rows: int
    seconds: float
    ok: bool
    #: why it failed ("" when it did not)
    error: str = ""
    #: events the database refused, kept as dead letters instead (see the module docstring)
    isolated: int = 0


Work = Batch | Inboxed
_Item = tuple[Work, "Future[WriteResult]"]
_STOP = None


class Writer:
    """Group-committing writer for one store; create, ``await start()``, ``await stop()``."""

    def __init__(
        self,
        store: Store,
        *,
        max_rows: int = MAX_ROWS,
        on_commit: Callable[[CommitInfo], None] | None = None,
        idle_seconds: float = IDLE_SECONDS,
    ) -> None:
        self.store = store
        self.max_rows = max_rows
        self.on_commit = on_commit
        self.idle_seconds = idle_seconds
        self._dirty = False  # committed since the last checkpoint
        self._queue: queue.Queue[_Item | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._held: _Item | None = None
        self.commits = 0
        self.batches_committed = 0
        self.rows_committed = 0
        self.failures = 0
        self.last_commit_rows = 0
        self.last_commit_seconds = 0.0
        self.commit_seconds_total = 0.0

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def pending(self) -> int:
        """Batches waiting for the writer thread (a queue-depth gauge)."""
        return self._queue.qsize()

    async def start(self) -> None:
        if self.running:
            return
        self._thread = threading.Thread(target=self._run, name="caliper-stream-writer", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        """Write everything already queued, then stop the thread."""
        thread = self._thread
        if thread is None:
            return
        self._queue.put(_STOP)
        await asyncio.to_thread(thread.join)
        self._thread = None

    async def write(self, batch: Work) -> WriteResult:
        """Queue `batch` (or a body for the inbox); return its result once the transaction
        holding it is committed."""
        if not self.running:
            raise StoreUnavailable("the store writer is not running")
        if isinstance(batch, Batch) and not batch.rows and not batch.dead_letters:
            return WriteResult()
        future: Future[WriteResult] = Future()
        self._queue.put((batch, future))
        return await asyncio.wrap_future(future)

    def write_sync(self, batch: Work) -> WriteResult:
        """The same from a plain thread (blocks until committed)."""
        if not self.running:
            raise StoreUnavailable("the store writer is not running")
        future: Future[WriteResult] = Future()
        self._queue.put((batch, future))
        return future.result()

    # --- the writer thread -------------------------------------------------------------------

    def _take(self) -> tuple[list[_Item], bool]:
        """The next group of batches (blocking for the first) and whether to stop after it."""
        first = self._held
        if first is None:
            while True:
                try:
                    first = self._queue.get(timeout=self.idle_seconds if self._dirty else None)
                    break
                except queue.Empty:
                    self._checkpoint()
        if first is _STOP:
            return [], True
        self._held = None
        group = [first]
        size = len(first[0])
        while size < self.max_rows:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                return group, True
            if size + len(item[0]) > self.max_rows:
                self._held = item  # starts the next transaction
                break
            group.append(item)
            size += len(item[0])
        return group, False

    def _checkpoint(self) -> None:
        self._dirty = False
        with contextlib.suppress(Exception):  # only space is at stake; the next idle retries
            self.store.checkpoint()

    def _run(self) -> None:
        stop = False
        while not stop or self._held is not None:
            group, stop_now = self._take()
            stop = stop or stop_now
            if group:
                self._commit(group)
        self._checkpoint()
        # anything queued after stop() was requested is refused, not silently dropped
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                _settle(item[1], exception=StoreUnavailable("the store writer stopped"))

    def _commit(self, group: list[_Item]) -> None:
        rows = sum(len(batch) for batch, _ in group)
        started = time.perf_counter()
        isolated = 0
        bodies = [work for work, _ in group if isinstance(work, Inboxed)]
        batches = [work for work, _ in group if isinstance(work, Batch)]
        try:
            self.store.inbox_put(bodies)
            try:
                written = iter(self.store.write_batches(batches) if batches else [])
            except StoreUnavailable:
                raise
            except StoreError:
                found, isolated = isolate(self.store, batches)
                written = iter(found)
            results = [WriteResult() if isinstance(work, Inboxed) else next(written) for work, _ in group]
        except BaseException as exc:
            seconds = time.perf_counter() - started
            self.failures += 1
            self._report(CommitInfo(len(group), rows, seconds, ok=False, error=str(exc)))
            for _, future in group:
                _settle(future, exception=exc)
            if not isinstance(exc, Exception):
                raise
            return
        self._dirty = True
        seconds = time.perf_counter() - started
        self.commits += 1
        self.batches_committed += len(group)
        self.rows_committed += rows
        self.last_commit_rows = rows
        self.last_commit_seconds = seconds
        self.commit_seconds_total += seconds
        self._report(CommitInfo(len(group), rows, seconds, ok=True, isolated=isolated))
        for (_, future), result in zip(group, results, strict=True):
            _settle(future, result)

    def _report(self, info: CommitInfo) -> None:
        if self.on_commit is not None:
            # a metrics hook must never cost the requests their results
            with contextlib.suppress(Exception):
                self.on_commit(info)


def isolate(store: Store, batches: list[Batch]) -> tuple[list[WriteResult], int]:
    """Write each batch on its own, splitting those the database refuses (see the module
    docstring); returns the results and how many events became dead letters."""
    results: list[WriteResult] = []
    isolated = 0
    for batch in batches:
        result, n = _write_splitting(store, batch)
        results.append(result)
        isolated += n
    return results, isolated


def _write_splitting(store: Store, batch: Batch) -> tuple[WriteResult, int]:
    try:
        return store.write_batches([batch])[0], 0
    except StoreUnavailable:
        raise
    except StoreError as exc:
        if len(batch.rows) <= 1:
            return _refused(store, batch, exc), len(batch.rows)
    half = len(batch.rows) // 2
    first, n1 = _write_splitting(store, Batch(batch.rows[:half], batch.dead_letters))
    second, n2 = _write_splitting(store, Batch(batch.rows[half:]))
    return first + second, n1 + n2


def _refused(store: Store, batch: Batch, exc: StoreError) -> WriteResult:
    """The batch's one event as a dead letter with the database's reason."""
    letters = list(batch.dead_letters) + [
        DeadLetter(row.raw, [Problem("", f"the database refused this event: {exc}")], row.source, row.received_at)
        for row in batch.rows
    ]
    result = store.write_batches([Batch(dead_letters=letters)])[0]
    return WriteResult(0, 0, result.dead_letters)


def _settle(
    future: Future[WriteResult], result: WriteResult | None = None, exception: BaseException | None = None
) -> None:
    """Resolve a request's future unless its request was cancelled meanwhile (the client went
    away; its events are stored all the same and a retry will find them as duplicates)."""
    if future.done():
        return
    try:
        if exception is not None:
            future.set_exception(exception)
        else:
            assert result is not None
            future.set_result(result)
    except InvalidStateError:
        pass
