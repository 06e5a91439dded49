"""Connection limits uvicorn does not enforce by itself: slow clients and greedy clients.

uvicorn's keep-alive timer stops at the first byte of a request, so a client that trickles its
headers or stalls its body holds a connection (and a buffer) for ever. `GuardedHttpToolsProtocol`
is uvicorn's httptools protocol (llhttp, a C parser: in `benchmarks/ingest_bench.py` it
acknowledged up to a tenth more than the pure-Python h11 protocol, docs/performance.md) with
four rules added:

- the header section must be complete within `header_timeout` seconds of the connection (or of
  the previous answer on a kept-alive connection);
- a body may not stall for more than `body_timeout` seconds between two reads;
- a header section may hold at most `max_header_bytes` (which bounds the number of headers too):
  counted as it arrives, so an endless header is refused without being held;
- one client address holds at most `max_client_connections` connections; more are closed at
  once.

Either timeout answers 408 (when no answer has started) and closes the connection; the endpoint
then sees a disconnect and stores nothing. An oversize header section is answered 431 and the
connection closed. The limits come from the `Settings` (`configure`, or the settings a
``--workers`` process finds in its environment).
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from typing import Any, ClassVar

import msgspec
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from caliper_stream.server.settings import SETTINGS_ENV, Settings


def _problem(status: int, reason: str, kind: str, title: str, detail: str) -> bytes:
    body = msgspec.json.encode({"type": f"urn:caliper-stream:problem:{kind}", "title": title, "status": status,
                                "detail": detail})
    return (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/problem+json\r\nconnection: close\r\n"
        f"content-length: {len(body)}\r\n\r\n".encode() + body
    )


_TIMEOUT_RESPONSE = _problem(408, "Request Timeout", "timeout", "Request not received in time",
                             "the request was not received in time; nothing was stored")
_HEADERS_RESPONSE = _problem(431, "Request Header Fields Too Large", "headers-too-large",
                             "Header section too large", "the request's header section is too large; nothing was stored")

# Where the request on a connection is, from the parser's callbacks.
_IDLE, _HEAD, _BODY, _DONE = "idle", "head", "body", "done"


class _HeadersTooLarge(Exception):
    """Raised from a parser callback: the parser stops, and the answer is 431 (`send_400_response`)."""


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with header/body deadlines, a header size limit and a
    per-client connection cap."""

    header_timeout: ClassVar[float] = 10.0
    body_timeout: ClassVar[float] = 15.0
    max_header_bytes: ClassVar[int] = 64 * 1024
    max_client_connections: ClassVar[int] = 64
    _configured: ClassVar[bool] = False
    _per_client: ClassVar[Counter[str]] = Counter()

    @classmethod
    def configure(cls, settings: Settings) -> None:
        cls.header_timeout = settings.header_timeout
        cls.body_timeout = settings.body_timeout
        cls.max_header_bytes = settings.max_header_bytes
        cls.max_client_connections = settings.max_client_connections
        cls._configured = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        cls = type(self)
        if not cls._configured and os.environ.get(SETTINGS_ENV):
            cls.configure(Settings.from_env())
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._address = ""
        self._phase = _IDLE
        self._head = 0  # bytes received since the connection or the last answer, headers unfinished
        self._too_large = False

    # --- connection cap ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._address = self.client[0] if self.client else ""
        counts = type(self)._per_client
        counts[self._address] += 1
        if counts[self._address] > self.max_client_connections:
            transport.close()
            return
        self._arm(self.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        counts = type(self)._per_client
        counts[self._address] -= 1
        if counts[self._address] <= 0:
            del counts[self._address]
        super().connection_lost(exc)

    # --- where the request is ----------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._phase is not _IDLE:
            # pipelined: the read that began it also held the end of the previous request, so
            # its count starts with the next read (the exact size is checked once it is whole)
            self._head = 0
        self._phase = _HEAD

    def on_headers_complete(self) -> None:
        # exact once the section is whole (a read can hold all of it, and the body after it)
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if size > self.max_header_bytes:
            self._too_large = True
            raise _HeadersTooLarge
        self._phase = _BODY
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._phase = _DONE
        super().on_message_complete()

    def on_response_complete(self) -> None:
        pipelined = bool(self.pipeline)  # the next request is in already: its answer is the app's
        super().on_response_complete()
        if self.transport.is_closing() or pipelined or self._phase is not _DONE:
            return
        self._phase, self._head = _IDLE, 0
        self._arm(self.header_timeout + self.timeout_keep_alive)

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to what the parser refused; 431 when it was the header section's size."""
        if self._too_large:
            self.transport.write(_HEADERS_RESPONSE)
            self.transport.close()
            return
        super().send_400_response(msg)

    # --- deadlines and the header limit --------------------------------------------------------

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self._phase is _BODY and self.flow.read_paused:
            self._arm(self.body_timeout)  # we stopped reading (the app is behind), not the client
            return
        cycle = self.cycle
        if cycle is None or not cycle.response_started:
            self.transport.write(_TIMEOUT_RESPONSE)
        self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self._phase is _IDLE or self._phase is _HEAD:
            self._head += len(data)
        super().data_received(data)
        if self.transport.is_closing():
            return
        phase = self._phase
        if phase is _IDLE or phase is _HEAD:
            if self._head > self.max_header_bytes:  # still no end of the section in sight
                self._disarm()
                self.transport.write(_HEADERS_RESPONSE)
                self.transport.close()
            elif self._deadline is None:
                self._arm(self.header_timeout)  # bytes of a header section keep no one waiting
        elif phase is _BODY:
            self._arm(self.body_timeout)  # the body moved: the stall timer starts again
        else:
            self._disarm()  # the whole request is in: the answer is the app's business
