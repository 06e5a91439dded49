"""Connection limits uvicorn does not enforce by itself: slow clients and greedy clients.

uvicorn's keep-alive timer stops at the first byte of a request, so a client that trickles its
headers or stalls its body holds a connection (and a buffer) for ever. `GuardedH11Protocol` is
uvicorn's h11 protocol with three rules added:

- the header section must be complete within `header_timeout` seconds of the connection (or of
  the previous answer on a kept-alive connection);
- a body may not stall for more than `body_timeout` seconds between two reads;
- one client address holds at most `max_client_connections` connections; more are closed at
  once.

Either timeout answers 408 (when no answer has started) and closes the connection; the endpoint
then sees a disconnect and stores nothing. The header section's size is bounded by h11 itself
(``h11_max_incomplete_event_size``), which bounds the number of headers too. The limits come
from the `Settings` (`configure`, or the settings a ``--workers`` process finds in its
environment).
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from typing import Any, ClassVar

import h11
import msgspec
from uvicorn.protocols.http.h11_impl import H11Protocol

from caliper_stream.server.settings import SETTINGS_ENV, Settings

_TIMEOUT_BODY = msgspec.json.encode(
    {
        "type": "urn:caliper-stream:problem:timeout",
        "title": "Request not received in time",
        "status": 408,
        "detail": "the request was not received in time; nothing was stored",
    }
)
_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/problem+json\r\nconnection: close\r\n"
    b"content-length: " + str(len(_TIMEOUT_BODY)).encode() + b"\r\n\r\n" + _TIMEOUT_BODY
)


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with header/body deadlines and a per-client connection cap."""

    header_timeout: ClassVar[float] = 10.0
    body_timeout: ClassVar[float] = 15.0
    max_client_connections: ClassVar[int] = 64
    _configured: ClassVar[bool] = False
    _per_client: ClassVar[Counter[str]] = Counter()

    @classmethod
    def configure(cls, settings: Settings) -> None:
        cls.header_timeout = settings.header_timeout
        cls.body_timeout = settings.body_timeout
        cls.max_client_connections = settings.max_client_connections
        cls._configured = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        cls = type(self)
        if not cls._configured and os.environ.get(SETTINGS_ENV):
            cls.configure(Settings.from_env())
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._address = ""

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

    # --- deadlines ---------------------------------------------------------------------------

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
        if self.conn.their_state is h11.SEND_BODY and self.flow.read_paused:
            self._arm(self.body_timeout)  # we stopped reading (the app is behind), not the client
            return
        cycle = self.cycle
        if cycle is None or not cycle.response_started:
            self.transport.write(_TIMEOUT_RESPONSE)
        self.transport.close()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.transport.is_closing():
            return
        their = self.conn.their_state
        if their is h11.IDLE:
            if self._deadline is None:
                self._arm(self.header_timeout)  # bytes of a header section keep no one waiting
        elif their is h11.SEND_BODY:
            self._arm(self.body_timeout)  # the body moved: the stall timer starts again
        else:
            self._disarm()  # the whole request is in: the answer is the app's business

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is not h11.SEND_BODY:
            self._arm(self.header_timeout + self.timeout_keep_alive)
