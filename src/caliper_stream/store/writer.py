"""The async seam between the server and a (sync) store: one writer thread, group commit.

Every request hands its prepared `Batch` to `Writer.write` and awaits it. One thread drains the
queue: it takes the first waiting batch plus as many more as fit in `max_rows`, writes them in
ONE transaction (`Store.write_batches`) and then wakes every request with *its own*
`WriteResult`. Under load, many small requests therefore cost one commit (one fsync) together;
with no load a request is written alone at once, so group commit adds no latency.

A batch larger than `max_rows` is still written in one transaction of its own (a request's
events are never split across commits). A failure of a commit is raised in every request whose
batch was in it; nothing of theirs was stored, so they may all retry.

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

from caliper_stream.errors import StoreUnavailable
from caliper_stream.ingest import Batch
from caliper_stream.store.base import Store, WriteResult

#: Default cap of rows (events + dead letters) grouped into one transaction.
MAX_ROWS = 2000


class CommitInfo(msgspec.Struct, frozen=True):
    """One transaction the writer ran (successful or not)."""

    batches: int
    rows: int
    seconds: float
    ok: bool


_Item = tuple[Batch, "Future[WriteResult]"]
_STOP = None


class Writer:
    """Group-committing writer for one store; create, ``await start()``, ``await stop()``."""

    def __init__(
        self,
        store: Store,
        *,
        max_rows: int = MAX_ROWS,
        on_commit: Callable[[CommitInfo], None] | None = None,
    ) -> None:
        self.store = store
        self.max_rows = max_rows
        self.on_commit = on_commit
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

    async def write(self, batch: Batch) -> WriteResult:
        """Queue `batch`; return its result once the transaction holding it is committed."""
        if not self.running:
            raise StoreUnavailable("the store writer is not running")
        if not batch.rows and not batch.dead_letters:
            return WriteResult()
        future: Future[WriteResult] = Future()
        self._queue.put((batch, future))
        return await asyncio.wrap_future(future)

    def write_sync(self, batch: Batch) -> WriteResult:
        """The same from a plain thread (blocks until committed)."""
        if not self.running:
            raise StoreUnavailable("the store writer is not running")
        future: Future[WriteResult] = Future()
        self._queue.put((batch, future))
        return future.result()

    # --- the writer thread -------------------------------------------------------------------

    def _take(self) -> tuple[list[_Item], bool]:
        """The next group of batches (blocking for the first) and whether to stop after it."""
        first = self._held if self._held is not None else self._queue.get()
        self._held = None
        if first is _STOP:
            return [], True
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

    def _run(self) -> None:
        stop = False
        while not stop or self._held is not None:
            group, stop_now = self._take()
            stop = stop or stop_now
            if group:
                self._commit(group)
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
        try:
            results = self.store.write_batches([batch for batch, _ in group])
        except BaseException as exc:
            seconds = time.perf_counter() - started
            self.failures += 1
            self._report(CommitInfo(len(group), rows, seconds, ok=False))
            for _, future in group:
                _settle(future, exception=exc)
            if not isinstance(exc, Exception):
                raise
            return
        seconds = time.perf_counter() - started
        self.commits += 1
        self.batches_committed += len(group)
        self.rows_committed += rows
        self.last_commit_rows = rows
        self.last_commit_seconds = seconds
        self.commit_seconds_total += seconds
        self._report(CommitInfo(len(group), rows, seconds, ok=True))
        for (_, future), result in zip(group, results, strict=True):
            _settle(future, result)

    def _report(self, info: CommitInfo) -> None:
        if self.on_commit is not None:
            # a metrics hook must never cost the requests their results
            with contextlib.suppress(Exception):
                self.on_commit(info)


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
