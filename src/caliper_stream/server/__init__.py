"""The HTTP server Learn posts its Caliper stream to.

`create_app` builds one Starlette app around one store, one group-commit writer (request
bodies into the inbox) and one digester child process (inbox into events); there is no
module-level app, so tests and ``serve --workers N`` each get their own (N workers are N
processes, each with its own writer and digester: right for PostgreSQL, where digesters share
the inbox with SKIP LOCKED, refused for SQLite where one process with one writer already groups
every concurrent request into one commit).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from caliper_stream.analyse import REPORTS
from caliper_stream.privacy import protection_for
from caliper_stream.privacy.nightly import Nightly
from caliper_stream.server import docs
from caliper_stream.server.access import AccessLog
from caliper_stream.server.api import ReadAPI
from caliper_stream.server.auth import KeyRing
from caliper_stream.server.dashboard import Dashboard, SecurityHeaders
from caliper_stream.server.health import Health, WriterState
from caliper_stream.server.ingest import IngestEndpoint
from caliper_stream.server.metrics import Metrics
from caliper_stream.server.openapi import describe
from caliper_stream.server.overload import WATCH_SECONDS, Overload, RequestGate
from caliper_stream.server.problems import problem
from caliper_stream.server.settings import SETTINGS_ENV, Settings
from caliper_stream.server.storage import Digester, DigestInfo
from caliper_stream.store.base import Store
from caliper_stream.store.writer import CommitInfo, Writer

#: Seconds a worker whose supervisor died has to finish its requests before it is killed.
STOP_GRACE = 15.0

#: The supervisor's pid, set by ``serve --workers N`` for its workers (see `_exit_with_supervisor`).
SUPERVISOR_ENV = "CALIPER_STREAM_SUPERVISOR"

__all__ = ["SETTINGS_ENV", "SUPERVISOR_ENV", "Settings", "app_from_env", "create_app", "store_options"]


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        response = problem("method-not-allowed", f"{request.method} is not allowed on {request.url.path}")
        allow = (exc.headers or {}).get("Allow")
        if allow:
            response.headers["Allow"] = allow
        return response
    return problem("not-found", f"no route {request.url.path}")


async def _crash(request: Request, exc: Exception) -> Response:
    # The traceback goes to the server's stderr (uvicorn logs it); the client gets a problem.
    return problem("internal", "unexpected server error; see the server log")


def create_app(settings: Settings, store: Store, *, close_store: bool = False) -> Starlette:
    """The app for `store`; its lifespan starts and drains the writer (and closes the store
    when `close_store`)."""
    metrics = Metrics()
    overload = Overload(store, settings.inbox_backlog_events, settings.inbox_backlog_bytes)
    state = WriterState()

    def on_commit(info: CommitInfo) -> None:
        metrics.commit(info)
        state.commit(info)

    def on_digest(info: DigestInfo) -> None:
        metrics.digest(info.requests, info.events, info.seconds, info.ok, info.isolated, info.outcomes)
        if info.ok:
            overload.digested(info.events + info.duplicates + info.dead_letters)

    writer = Writer(store, on_commit=on_commit)
    digester = Digester(store.url, store_options(settings), settings.max_inflated_bytes, on_digest=on_digest)
    keys = KeyRing(store, settings.key_cache_seconds)
    endpoint = IngestEndpoint(settings, writer, digester, keys, metrics, overload, protection_for(store))
    api = ReadAPI(store, keys, REPORTS)
    health = Health(
        store, writer, digester, overload, metrics, describe(settings, extra_paths=api.openapi_paths()), state,
        public_metrics=settings.public_metrics, authorized=endpoint.authorize,
    )
    nightly = Nightly(store)  # retention, when the store has a schedule

    async def watch() -> None:
        """Keep the backlog gauges current and the digester running (it may be killed)."""
        while True:
            with contextlib.suppress(Exception):
                metrics.backlog(await overload.refresh())
            with contextlib.suppress(Exception):
                if not digester.running:
                    await digester.start()
            await asyncio.sleep(WATCH_SECONDS)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await writer.start()
        await digester.start()
        watching = asyncio.create_task(watch())
        nightly.start()
        try:
            yield
        finally:
            nightly.stop()
            watching.cancel()
            await asyncio.gather(watching, return_exceptions=True)
            await writer.stop()
            await digester.stop()
            if close_store:
                store.close()

    async def caliper(request: Request) -> Response:  # one route, so that 405 names both methods
        return await (endpoint.post if request.method == "POST" else endpoint.config)(request)

    routes = [
        Route(settings.path, caliper, methods=["GET", "POST"]),
        Route("/healthz", health.healthz, methods=["GET"]),
        Route("/readyz", health.readyz, methods=["GET"]),
        Route("/metrics", health.metrics_route, methods=["GET"]),
        Route("/openapi.json", health.openapi_route, methods=["GET"]),
        *docs.routes(),
        *api.routes(),
        *Dashboard(api).routes(),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(AccessLog, metrics=metrics),
            Middleware(SecurityHeaders),
            Middleware(
                RequestGate, path=settings.path, budget=settings.latency_budget,
                retry_after=settings.retry_after,
            ),
        ],
        exception_handlers={HTTPException: _http_error, Exception: _crash},
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.writer = writer
    app.state.digester = digester
    app.state.metrics = metrics
    app.state.health = health
    return app


def app_from_env() -> Starlette:
    """Factory for ``serve --workers N``: each worker process opens its own store and writer."""
    from caliper_stream.store import open_store

    settings = Settings.from_env()
    _exit_with_supervisor(int(os.environ.get(SUPERVISOR_ENV) or os.getppid()))
    return create_app(settings, open_store(settings.db, **store_options(settings)), close_store=True)


def _exit_with_supervisor(supervisor: int, interval: float = 0.5) -> None:
    """Shut this worker down (gracefully: SIGTERM) once its supervisor is gone, even when it
    was killed with SIGKILL and could not stop its workers: otherwise they keep the port. The
    supervisor's pid comes from the environment, so that a worker still starting when its
    supervisor died (already re-parented) notices too."""

    def watch() -> None:
        while os.getppid() == supervisor:
            time.sleep(interval)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(STOP_GRACE)
        os.kill(os.getpid(), signal.SIGKILL)  # a shutdown that hangs must not keep the port either

    threading.Thread(target=watch, name="caliper-stream-supervisor-watch", daemon=True).start()


def store_options(settings: Settings) -> dict[str, Any]:
    """Backend options the settings imply (durability is a SQLite setting; PostgreSQL commits
    are durable per its server configuration)."""
    if settings.sqlite:
        return {"durability": settings.durability}
    return {}
