"""Operational routes: liveness, readiness, Prometheus metrics and the OpenAPI description."""

from __future__ import annotations

import asyncio

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from caliper_stream.server.metrics import CONTENT_TYPE_LATEST, Metrics
from caliper_stream.server.problems import problem
from caliper_stream.server.storage import BatchWriter
from caliper_stream.store.base import Store

#: A readiness probe that takes longer than this counts as "database unreachable".
READY_TIMEOUT = 5.0

_encode = msgspec.json.Encoder().encode


def _json(body: object) -> Response:
    return Response(_encode(body), media_type="application/json")


class Health:
    def __init__(self, store: Store, writer: BatchWriter, metrics: Metrics, openapi: dict[str, object]) -> None:
        self.store = store
        self.writer = writer
        self.metrics = metrics
        self.openapi = _encode(openapi)

    async def healthz(self, request: Request) -> Response:
        """The process is up and serving HTTP (nothing else is checked: restarts fix nothing else)."""
        return _json({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        """Ready to store: the writer runs and the database answers."""
        if not self.writer.running:
            try:  # a writer that died is replaced here too, not only by the next write
                await self.writer.start()
            except Exception as exc:
                return problem("unavailable", f"the store writer is not running: {exc}")
        try:
            await asyncio.wait_for(asyncio.to_thread(self.store.ping), READY_TIMEOUT)
        except TimeoutError:
            return problem("unavailable", f"the database did not answer within {READY_TIMEOUT:g} s")
        except Exception as exc:
            return problem("unavailable", f"the database is not reachable: {exc}")
        return _json({"status": "ready"})

    async def metrics_route(self, request: Request) -> Response:
        return Response(self.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    async def openapi_route(self, request: Request) -> Response:
        return Response(self.openapi, media_type="application/json")
