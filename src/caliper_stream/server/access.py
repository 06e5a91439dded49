"""One JSON line per request on stderr, and the request metrics, for every route.

The endpoint adds what it learned (source, counts, bytes) to ``scope["caliper.log"]``; this
middleware adds method, path, status and latency and writes the line once the response is sent.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from typing import Any

import msgspec
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from caliper_stream.server.metrics import Metrics

_encode = msgspec.json.Encoder().encode

#: Routes whose path names a person (an erasure names who is erased): logged as the route, so
#: that the log, kept and shipped elsewhere, holds no identifier of anyone.
PERSONAL_ROUTES = frozenset({"/api/users/{id}", "/dashboard/students/{user}"})


class AccessLog:
    """Pure ASGI middleware (no body buffering, no extra task per request)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        info: dict[str, Any] = {}
        scope["caliper.log"] = info

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            seconds = time.perf_counter() - started
            method = scope["method"]
            self.metrics.request(method, status, seconds)
            client = scope.get("client")
            path = scope["path"]
            route = getattr(scope.get("route"), "path", None)
            if route in PERSONAL_ROUTES:
                path = route
            line = {
                "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "method": method,
                "path": path,
                "status": status,
                "latency_ms": round(seconds * 1000, 2),
                "client": client[0] if client else None,
                **info,
            }
            try:
                sys.stderr.write(_encode(line).decode() + "\n")
                sys.stderr.flush()
            except (OSError, ValueError):
                pass  # a closed or broken stderr must not fail the request
