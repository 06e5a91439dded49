"""Operational routes: liveness, readiness, Prometheus metrics and the OpenAPI description.

Readiness says what the writer last saw: after a failed commit (read-only file, full disk,
database down) ``/readyz`` answers 503 with that reason until a commit succeeds again or a
write probe (`Store.probe_write`, which also re-opens a write connection a failure left
unusable) shows that the database can write again. A server started on a read-only database is
therefore "not ready" from the start, and ready by itself once the file is writable.

A digest backlog does not make a server unready (its bodies are durable, and another replica
or this one digests them); ``/readyz`` says how large it is and how fast it drains.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from caliper_stream.server.metrics import CONTENT_TYPE_LATEST, Metrics
from caliper_stream.server.overload import Overload
from caliper_stream.server.problems import problem
from caliper_stream.server.storage import Digester
from caliper_stream.store.base import Store
from caliper_stream.store.writer import CommitInfo, Writer

#: A readiness probe that takes longer than this counts as "database unreachable".
READY_TIMEOUT = 5.0

_encode = msgspec.json.Encoder().encode


def _json(body: object) -> Response:
    return Response(_encode(body), media_type="application/json")


class WriterState:
    """The outcome of the writer's last commit (fed by the writer's ``on_commit`` hook)."""

    def __init__(self) -> None:
        self.verified = False  # a commit or a write probe has succeeded
        self.error = ""  # the last failure, until a success clears it
        self.failed_at = 0.0

    def commit(self, info: CommitInfo) -> None:
        if info.ok:
            self.succeeded()
        else:
            self.error = info.error or "the commit failed"
            self.failed_at = time.monotonic()

    def succeeded(self) -> None:
        self.verified = True
        self.error = ""

    @property
    def doubtful(self) -> bool:
        return not self.verified or bool(self.error)


class Health:
    def __init__(
        self,
        store: Store,
        writer: Writer,
        digester: Digester,
        overload: Overload,
        metrics: Metrics,
        openapi: dict[str, object],
        state: WriterState,
        *,
        public_metrics: bool = True,
        authorized: Callable[[Request], Awaitable[Response | None]] | None = None,
    ) -> None:
        self.store = store
        self.writer = writer
        self.digester = digester
        self.overload = overload
        self.metrics = metrics
        self.openapi = _encode(openapi)
        self.state = state
        self.public_metrics = public_metrics
        self.authorized = authorized

    async def writable(self) -> str | None:
        """None when the database can write, else why not (probing only after a failure)."""
        if not self.state.doubtful:
            return None
        last = self.state.error
        try:
            await asyncio.wait_for(asyncio.to_thread(self.store.probe_write), READY_TIMEOUT)
        except TimeoutError:
            return f"the database did not accept a write within {READY_TIMEOUT:g} s"
        except Exception as exc:
            if last:
                ago = time.monotonic() - self.state.failed_at
                return f"the last commit failed {ago:.0f} s ago ({last}) and the database still cannot write: {exc}"
            return f"the database cannot write: {exc}"
        self.state.succeeded()
        return None

    async def healthz(self, request: Request) -> Response:
        """The process is up and serving HTTP (nothing else is checked: restarts fix nothing else)."""
        return _json({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        """Ready to store: the writer runs and the database answers; says the digest backlog."""
        if not self.writer.running:
            try:  # a writer that died is replaced here too, not only by the next write
                await self.writer.start()
            except Exception as exc:
                return problem("unavailable", f"the store writer is not running: {exc}")
        if not self.digester.running:
            try:  # replaced here too, not only by the server's watch
                await self.digester.start()
            except Exception as exc:
                return problem("unavailable", f"the digester is not running: {exc}")
        try:
            await asyncio.wait_for(asyncio.to_thread(self.store.ping), READY_TIMEOUT)
        except TimeoutError:
            return problem("unavailable", f"the database did not answer within {READY_TIMEOUT:g} s")
        except Exception as exc:
            return problem("unavailable", f"the database is not reachable: {exc}")
        why = await self.writable()
        if why is not None:
            return problem("unavailable", why)
        with contextlib.suppress(Exception):
            await self.overload.refresh()
        inbox = self.overload.inbox
        return _json({
            "status": "ready",
            "inbox": {"rows": inbox.rows, "events": inbox.events, "bytes": inbox.bytes},
            "digested_events_per_second": round(self.overload.rate, 1),
        })

    async def metrics_route(self, request: Request) -> Response:
        """Prometheus text; needs an API key unless the server runs with ``--public-metrics``."""
        if not self.public_metrics and self.authorized is not None:
            refused = await self.authorized(request)
            if refused is not None:
                return refused
        return Response(self.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    async def openapi_route(self, request: Request) -> Response:
        return Response(self.openapi, media_type="application/json")
