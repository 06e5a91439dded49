"""The store writer in a process of its own, behind the `Writer` interface (used for SQLite).

Why: the writer thread spends most of a commit inside SQLite, which releases the GIL, but it
needs the GIL back for every row it binds, while the event loop holds it to read and parse
bodies. In one process the server therefore never used more than one core (measured on two
cores: the writer busy 100% of the time, the process at 0.94 cores). In a process of its own
the writer competes only with the small loop that receives batches, and parsing runs on the
other core. Group commit is unchanged: one writer, one transaction for all waiting requests,
each request answered after its commit.

Protocol over a socket pair, one frame per message: kind (1 byte), request id (8), length (4),
msgpack payload. The parent sends ``W`` (a Batch); the child answers ``R`` (WriteResult) or
``E`` (error) for that id, sends ``C`` (CommitInfo, for metrics) after each transaction and
``Y`` once ready. When the parent closes its end (or dies, even by SIGKILL) the child finishes
the writes it has received, and exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
import struct
import subprocess
import sys
from collections.abc import Callable
from typing import Any, Protocol

import msgspec

from caliper_stream.errors import StoreError, StoreUnavailable
from caliper_stream.ingest import Batch
from caliper_stream.store.base import WriteResult
from caliper_stream.store.writer import CommitInfo

_HEADER = struct.Struct(">cQI")
_CHILD_MAIN = "import sys; from caliper_stream.server.storage import main; main(sys.argv[1:])"
#: What a failed hand-off to the child can raise: the channel reset or closed under us (the
#: child was killed), or a child that cannot be started. Each means "not stored; retry".
HANDOFF_ERRORS = (OSError, RuntimeError, EOFError)
START_TIMEOUT = 60.0
STOP_TIMEOUT = 60.0
SOCKET_BUFFER = 4 * 1024 * 1024


class _Error(msgspec.Struct):
    unavailable: bool
    message: str


_encode = msgspec.msgpack.Encoder().encode
_decode_batch = msgspec.msgpack.Decoder(Batch).decode
_decode_result = msgspec.msgpack.Decoder(WriteResult).decode
_decode_error = msgspec.msgpack.Decoder(_Error).decode
_decode_commit = msgspec.msgpack.Decoder(CommitInfo).decode


class BatchWriter(Protocol):
    """What the endpoint needs of a writer: the in-process `Writer` or a `WriterProcess`."""

    @property
    def running(self) -> bool: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def write(self, batch: Batch) -> WriteResult: ...


def _frame(kind: bytes, ident: int, payload: bytes = b"") -> bytes:
    return _HEADER.pack(kind, ident, len(payload)) + payload


async def _read_frame(reader: asyncio.StreamReader) -> tuple[bytes, int, bytes] | None:
    try:
        kind, ident, size = _HEADER.unpack(await reader.readexactly(_HEADER.size))
        return kind, ident, await reader.readexactly(size)
    except (asyncio.IncompleteReadError, ConnectionError):
        return None


class WriterProcess:
    """Drop-in for `caliper_stream.store.writer.Writer`, with the writer in a child process."""

    def __init__(
        self, url: str, options: dict[str, Any], *, on_commit: Callable[[CommitInfo], None] | None = None
    ) -> None:
        self.url = url
        self.options = options
        self.on_commit = on_commit
        self._proc: subprocess.Popen[bytes] | None = None
        self._out: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._waiting: dict[int, asyncio.Future[WriteResult]] = {}
        self._ids = itertools.count(1)
        self._ready: asyncio.Future[None] | None = None
        self._restart_lock: asyncio.Lock | None = None
        self._stopped = False

    @property
    def running(self) -> bool:
        return (
            self._proc is not None
            and self._proc.poll() is None
            and self._reader_task is not None
            and not self._reader_task.done()
        )

    @property
    def pending(self) -> int:
        return len(self._waiting)

    async def start(self) -> None:
        """Start the child (or replace one that died); returns once it can write. Concurrent
        callers (a request and ``/readyz``) share one start."""
        if self._restart_lock is None:
            self._restart_lock = asyncio.Lock()
        async with self._restart_lock:
            if not self.running:
                await self._start()

    async def _start(self) -> None:
        await self._close()
        self._stopped = False
        ours, theirs = socket.socketpair()
        for sock in (ours, theirs):  # a 100-event batch is ~450 KB: pass it in one go
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_BUFFER)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SOCKET_BUFFER)
        with theirs:
            # ``-c`` rather than ``-m caliper_stream.server.storage``: running a module of an
            # already imported package as __main__ makes runpy warn on every start
            self._proc = subprocess.Popen(
                [sys.executable, "-c", _CHILD_MAIN, str(theirs.fileno()), self.url, json.dumps(self.options)],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
            )
        reader, self._out = await asyncio.open_unix_connection(sock=ours)
        self._ready = asyncio.get_running_loop().create_future()
        self._reader_task = asyncio.create_task(self._read_loop(reader))
        try:
            await asyncio.wait_for(asyncio.shield(self._ready), START_TIMEOUT)
        except TimeoutError:
            await self._close()
            raise StoreUnavailable(f"the writer process did not start within {START_TIMEOUT:g} s") from None
        except BaseException:
            await self._close()
            raise

    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        failure: BaseException = StoreUnavailable("the writer process exited")
        try:
            while (frame := await _read_frame(reader)) is not None:
                kind, ident, payload = frame
                if kind == b"C":
                    if self.on_commit is not None:
                        self.on_commit(_decode_commit(payload))
                    continue
                if kind == b"Y":
                    if self._ready is not None and not self._ready.done():
                        self._ready.set_result(None)
                    continue
                if kind == b"E" and ident == 0:
                    error = _decode_error(payload)
                    failure = StoreUnavailable(error.message)
                    break
                future = self._waiting.pop(ident, None)
                if future is None or future.done():
                    continue
                if kind == b"R":
                    future.set_result(_decode_result(payload))
                else:
                    error = _decode_error(payload)
                    future.set_exception((StoreUnavailable if error.unavailable else StoreError)(error.message))
        finally:
            if self._ready is not None and not self._ready.done():
                self._ready.set_exception(failure)
            waiting, self._waiting = self._waiting, {}
            for future in waiting.values():
                if not future.done():
                    future.set_exception(StoreUnavailable(f"{failure}; nothing of this request is known to be stored"))

    async def write(self, batch: Batch) -> WriteResult:
        """Queue `batch` in the child; return its result once committed there."""
        if not batch.rows and not batch.dead_letters:
            return WriteResult()
        ident = next(self._ids)
        future: asyncio.Future[WriteResult] = asyncio.get_running_loop().create_future()
        try:
            if not self.running:
                await self._restart()
            out = self._out
            if out is None or out.is_closing():
                raise StoreUnavailable("the writer process is not running")
            self._waiting[ident] = future
            payload = _encode(batch)
            # header and payload as two buffers: joining them would copy the ~450 KB payload again
            out.writelines((_HEADER.pack(b"W", ident, len(payload)), payload))
            await out.drain()
        except HANDOFF_ERRORS as exc:
            self._waiting.pop(ident, None)
            if future.done() and not future.cancelled():
                future.exception()  # settled by the reader meanwhile: retrieved, not logged
            raise StoreUnavailable(
                f"the writer process went away during the hand-off ({type(exc).__name__}: {exc})"
            ) from exc
        return await future

    async def _restart(self) -> None:
        """Replace a writer process that died (killed, out of memory) before the next write."""
        if self._stopped:
            raise StoreUnavailable("the writer process is stopped")
        await self.start()

    async def stop(self) -> None:
        """Close the channel: the child commits what it received, then exits."""
        self._stopped = True
        await self._close()

    async def _close(self) -> None:
        if self._out is not None:
            self._out.close()
            with contextlib.suppress(ConnectionError):
                await self._out.wait_closed()
            self._out = None
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                await asyncio.to_thread(proc.wait, STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                await asyncio.to_thread(proc.wait)
        if self._reader_task is not None:
            await asyncio.gather(self._reader_task, return_exceptions=True)
            self._reader_task = None


# --- the child ------------------------------------------------------------------------------


async def _child(fd: int, url: str, options: dict[str, Any]) -> None:
    from caliper_stream.store import open_store
    from caliper_stream.store.writer import Writer

    reader, out = await asyncio.open_unix_connection(sock=socket.socket(fileno=fd))
    loop = asyncio.get_running_loop()

    def send(kind: bytes, ident: int, payload: bytes) -> None:
        if not out.is_closing():
            out.write(_frame(kind, ident, payload))

    try:
        store = await asyncio.to_thread(open_store, url, **options)
    except StoreError as exc:
        send(b"E", 0, _encode(_Error(True, f"cannot open the store: {exc}")))
        await out.drain()
        return
    def on_commit(info: CommitInfo) -> None:  # on the writer thread
        loop.call_soon_threadsafe(send, b"C", 0, _encode(info))

    writer = Writer(store, on_commit=on_commit)
    await writer.start()
    send(b"Y", 0, b"")

    async def handle(ident: int, payload: bytes) -> None:
        try:
            result = await writer.write(_decode_batch(payload))
        except StoreUnavailable as exc:
            send(b"E", ident, _encode(_Error(True, str(exc))))
        except Exception as exc:
            send(b"E", ident, _encode(_Error(False, f"{type(exc).__name__}: {exc}")))
        else:
            send(b"R", ident, _encode(result))

    tasks: set[asyncio.Task[None]] = set()
    try:
        while (frame := await _read_frame(reader)) is not None:
            _, ident, payload = frame
            task = asyncio.create_task(handle(ident, payload))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks, return_exceptions=True)  # the parent is gone: finish anyway
    finally:
        await writer.stop()
        store.close()
        with contextlib.suppress(ConnectionError):
            await out.drain()
        out.close()


def main(argv: list[str]) -> None:
    fd, url, options = int(argv[0]), argv[1], json.loads(argv[2])
    asyncio.run(_child(fd, url, options))


if __name__ == "__main__":
    main(sys.argv[1:])
