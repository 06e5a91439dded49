"""The digester: a child process of every server that turns inboxed bodies into events.

Why a process: digesting (gunzip, read, decode, key data, binding every row) is CPU work
that needs the GIL, while the HTTP process's event loop needs it to read bodies; in a process
of its own it runs on the other core. Acknowledging is therefore as cheap as inserting a body,
and the backlog drains behind at its own pace.

Each digest is ONE transaction (`Store.digest_inbox`): claim the oldest rows (PostgreSQL:
``FOR UPDATE SKIP LOCKED``, so that the digesters of several replicas share them), store their
events and dead letters, delete the rows. Killed at any instant, a digest either committed or
left its rows in the inbox for the next one; events dedupe on their key and dead letters on
their digest, so a digest redone stores nothing twice. A batch the database refuses because of
a value is isolated as in `caliper_stream.store.writer` (a poison event costs only itself).

Protocol: the parent writes a line to the child's stdin after each inbox commit (a nudge; the
child also polls, for other replicas' rows); closing stdin (or dying, even by SIGKILL) makes
the child digest what the inbox holds, for at most `DRAIN_SECONDS`, and exit (what is left is
digested by the next start, or by another replica). The child writes one JSON line (`DigestInfo`)
to stdout per digest, for metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import msgspec

from caliper_stream.errors import StoreError, StoreUnavailable
from caliper_stream.ingest import Batch, Protection
from caliper_stream.problems import Problem
from caliper_stream.server.payload import TooLarge, parse, refuse
from caliper_stream.store.base import Claim, Inboxed, Store

_CHILD_MAIN = "import sys; from caliper_stream.server.storage import main; main(sys.argv[1:])"
STOP_TIMEOUT = 30.0  # more than DRAIN_SECONDS plus one digest
#: What one digest claims from the inbox (`Claim`: up to 20,000 events and 64 MiB of bodies).
DIGEST = Claim()
#: Seconds between looks at an inbox nobody nudged about (other replicas' rows, restarts).
POLL_SECONDS = 0.5
#: Seconds without work after which the store is checkpointed (SQLite's WAL truncated).
IDLE_SECONDS = 2.0
#: Seconds a stopping digester (its parent stopped or died) goes on digesting what is inboxed.
DRAIN_SECONDS = 10.0
#: Seconds to wait before retrying a store that cannot commit, doubled after each failure in a
#: row up to `MAX_RETRY_SECONDS` (a full disk: each attempt parses its bodies again, for nothing).
RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 8.0


class DigestInfo(msgspec.Struct, frozen=True):
    """One digest transaction (or a failed attempt), as the child reports it."""

    requests: int = 0
    events: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    seconds: float = 0.0
    ok: bool = True
    error: str = ""
    isolated: int = 0
    #: [source, type label, outcome, count] for the events metric
    outcomes: list[tuple[str, str, str, int]] = msgspec.field(default_factory=list)


_decode_info = msgspec.json.Decoder(DigestInfo).decode
_encode = msgspec.json.Encoder().encode


class Digester:
    """The parent's handle on the digester child: start, nudge, stop; replaced when it dies."""

    def __init__(
        self, url: str, options: dict[str, Any], max_inflated: int,
        *, on_digest: Callable[[DigestInfo], None] | None = None,
    ) -> None:
        self.url = url
        self.options = options
        self.max_inflated = max_inflated
        self.on_digest = on_digest
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._lock: asyncio.Lock | None = None
        self._stopped = False

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    async def start(self) -> None:
        """Start the child, or replace one that died (concurrent callers share one start)."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self.running:
                return
            await self._reap()
            self._stopped = False
            self._proc = await asyncio.create_subprocess_exec(
                sys.executable, "-c", _CHILD_MAIN, self.url, json.dumps(self.options), str(self.max_inflated),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            )
            self._reader = asyncio.create_task(self._read(self._proc))

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        while line := await proc.stdout.readline():
            if self.on_digest is not None:
                with contextlib.suppress(Exception):  # metrics must not stop the reader
                    self.on_digest(_decode_info(line))

    def nudge(self) -> None:
        """Tell the child that the inbox has new rows (best effort: it polls anyway)."""
        proc = self._proc
        if proc is None or proc.stdin is None or proc.stdin.is_closing():
            return
        with contextlib.suppress(Exception):
            proc.stdin.write(b"\n")

    async def stop(self) -> None:
        """Close the child's stdin: it digests what is inboxed (bounded) and exits."""
        self._stopped = True
        await self._reap()

    async def _reap(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), STOP_TIMEOUT)
        except TimeoutError:
            proc.kill()
            await proc.wait()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
            self._reader = None


# --- the child ------------------------------------------------------------------------------


def digest_body(item: Inboxed, max_inflated: int, protection: Protection | None) -> tuple[Batch, list[str], list[str]]:
    """An inboxed body as the HTTP layer would have parsed it: its batch, and the types of its
    rows and rejected events (for metrics). A body too large once inflated is a dead letter."""
    privacy = None if item.protected else protection
    try:
        parsed = parse(item.body, item.source, max_inflated, privacy=privacy)
    except TooLarge as exc:
        parsed = refuse(item.body, [Problem("", str(exc))], item.source, item.received_at, "too-large", str(exc), privacy)
    batch = parsed.batch
    # received when it was acknowledged, not when digested
    for row in batch.rows:
        row.received_at = item.received_at
    for letter in batch.dead_letters:
        letter.received_at = item.received_at
    return batch, parsed.row_types, parsed.rejected_types


def digest_once(store: Store, max_inflated: int, protection: Protection | None, claim: Claim = DIGEST) -> DigestInfo:
    """One digest transaction; `DigestInfo` with ``requests == 0`` when the inbox is empty."""
    from caliper_stream.server.metrics import type_label
    from caliper_stream.store.writer import isolate

    started = time.perf_counter()
    claimed: list[Inboxed] = []
    types: list[tuple[list[str], list[str]]] = []

    def work(items: list[Inboxed]) -> list[Batch]:
        claimed[:] = items
        types.clear()
        batches = []
        for item in items:
            batch, row_types, rejected = digest_body(item, max_inflated, protection)
            batches.append(batch)
            types.append((row_types, rejected))
        return batches

    isolated = 0
    try:
        results = store.digest_inbox(claim, work)
    except StoreUnavailable:
        raise
    except StoreError:
        # a value the database refused: each body alone, then halves, as the writer does; the
        # rows are deleted after their batches are stored (redone after a crash: deduped)
        batches = work(list(claimed))
        results, isolated = isolate(store, batches)
        store.inbox_delete([item.id for item in claimed])
    tally: Counter[tuple[str, str, str]] = Counter()
    for item, (row_types, rejected), result in zip(claimed, types, results, strict=False):
        for i, t in enumerate(row_types):
            tally[(item.source, type_label(t), "accepted" if i < result.accepted else "duplicate")] += 1
        for t in rejected:
            tally[(item.source, type_label(t), "rejected")] += 1
    return DigestInfo(
        requests=len(results),
        events=sum(r.accepted for r in results),
        duplicates=sum(r.duplicates for r in results),
        dead_letters=sum(r.dead_letters for r in results),
        seconds=time.perf_counter() - started,
        isolated=isolated,
        outcomes=[(s, t, o, n) for (s, t, o), n in tally.items()],
    )


class _Stdin:
    """The parent's nudges (a line each) and its end (EOF), read on a thread."""

    def __init__(self) -> None:
        self.nudged = threading.Event()
        self.closed = threading.Event()
        threading.Thread(target=self._read, name="caliper-stream-digest-stdin", daemon=True).start()

    def _read(self) -> None:
        with contextlib.suppress(Exception):
            while sys.stdin.buffer.readline():
                self.nudged.set()
        self.closed.set()
        self.nudged.set()

    def wait(self, seconds: float) -> bool:
        fired = self.nudged.wait(seconds)
        self.nudged.clear()
        return fired


def _report(info: DigestInfo) -> None:
    with contextlib.suppress(OSError):  # the parent is gone: digest on all the same
        sys.stdout.buffer.write(_encode(info) + b"\n")
        sys.stdout.buffer.flush()


def _open(url: str, options: dict[str, Any], stdin: _Stdin) -> Store | None:
    from caliper_stream.store import open_store

    while not stdin.closed.is_set():
        try:
            return open_store(url, migrate=False, **options)
        except StoreError as exc:
            _report(DigestInfo(ok=False, error=f"cannot open the store: {exc}"))
            stdin.closed.wait(RETRY_SECONDS)
    return None


def run(url: str, options: dict[str, Any], max_inflated: int) -> None:
    from caliper_stream.privacy import protection_for

    stdin = _Stdin()
    store = _open(url, options, stdin)
    if store is None:
        return
    try:
        protection = protection_for(store)
        dirty = False
        idle_since = time.monotonic()
        drain_until: float | None = None
        retry = RETRY_SECONDS
        while drain_until is None or time.monotonic() < drain_until:
            if drain_until is None and stdin.closed.is_set():
                drain_until = time.monotonic() + DRAIN_SECONDS
            try:
                info = digest_once(store, max_inflated, protection)
            except Exception as exc:  # the rows stay inboxed: dying would only cost a restart
                error = str(exc) if isinstance(exc, StoreError) else f"unexpected {type(exc).__name__}: {exc}"
                _report(DigestInfo(ok=False, error=error))
                if drain_until is not None:
                    break
                stdin.closed.wait(retry)
                retry = min(retry * 2, MAX_RETRY_SECONDS)
                continue
            retry = RETRY_SECONDS
            if info.requests:
                _report(info)
                dirty = True
                idle_since = time.monotonic()
                continue
            if drain_until is not None:
                break  # the inbox is empty
            stdin.wait(POLL_SECONDS)
            if dirty and time.monotonic() - idle_since >= IDLE_SECONDS:
                dirty = False
                with contextlib.suppress(Exception):  # only space is at stake; the next idle retries
                    store.checkpoint()
    finally:
        with contextlib.suppress(Exception):
            store.checkpoint()
        store.close()


def main(argv: list[str]) -> None:
    url, options, max_inflated = argv[0], json.loads(argv[1]), int(argv[2])
    with contextlib.suppress(KeyboardInterrupt):
        run(url, options, max_inflated)


if __name__ == "__main__":
    main(sys.argv[1:])
