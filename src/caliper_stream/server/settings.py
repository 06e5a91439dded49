"""The server's settings: one frozen value built by the CLI and handed to `create_app`.

It is a msgspec Struct so that ``serve --workers N`` can pass it to each worker process as
JSON in an environment variable (uvicorn starts workers from an import string, not an object).
"""

from __future__ import annotations

import os
from typing import Literal

import msgspec

Durability = Literal["normal", "full"]
#: What ``serve`` runs with unless told otherwise (SQLite; PostgreSQL commits as configured).
DURABILITY: Durability = "full"

#: Environment variable carrying the JSON settings to worker processes.
SETTINGS_ENV = "CALIPER_STREAM_SERVER_SETTINGS"


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the HTTP layer needs to know; defaults suit one Learn site on one machine."""

    #: Database URL (``sqlite:///path`` or ``postgresql://…``).
    db: str
    #: Where Learn posts (the "Service URL" path); GET on it answers the configuration request.
    path: str = "/caliper"
    #: Largest request body accepted, in bytes as received (compressed or not). Advertised to
    #: Caliper 1.2 sensors as ``caliperMaximumPayloadSize`` (KB).
    max_bytes: int = 16 * 1024 * 1024
    #: Largest body once gzip is undone: bounds what a small compressed body can expand to.
    max_inflated_bytes: int = 128 * 1024 * 1024
    #: ``full`` (the default) makes every commit survive a power loss, so that a 2xx means the
    #: body is on disk (an fsync per group commit, which measured no slower: docs/server.md);
    #: ``normal`` survives a crash of the server but may lose the last commits to a power loss.
    durability: Durability = DURABILITY
    #: Events waiting to be digested (in the inbox, or held by this process) above which new
    #: requests get 429; and/or the same in bytes of inboxed bodies (None: no limit). By bytes
    #: by default: what a backlog costs is disk, and Learn's retry policy is unknown, so a
    #: burst (the nightly grades) is absorbed rather than refused (2 GiB ≈ 400,000 of Learn's
    #: 5 KB assessment events, ≈ 40 s of lag at the digest rates of docs/performance.md).
    inbox_backlog_events: int | None = None
    inbox_backlog_bytes: int | None = 2 * 1024**3
    #: Seconds a request should take at most: requests in progress beyond what the server
    #: finishes in this time get 429 (`overload.RequestGate`).
    latency_budget: float = 2.0
    #: Seconds a client is told to wait (``Retry-After``) on 429 and 503.
    retry_after: int = 5
    #: Seconds an API key lookup is cached; 0 looks every request up (revocation is then
    #: immediate, otherwise it takes effect within this time).
    key_cache_seconds: float = 1.0
    #: ``/metrics`` answers without an API key (otherwise any active key is needed, e.g. one
    #: made for Prometheus with ``keys add prometheus``).
    public_metrics: bool = False
    #: Wrong API keys a client (IP address) may send within `auth_window` seconds before it is
    #: answered 429 until the window has passed; 0 turns the throttle off.
    auth_failures: int = 20
    auth_window: float = 60.0
    #: Seconds a client has to send a request's headers (from connecting, or from the previous
    #: answer on a kept-alive connection).
    header_timeout: float = 10.0
    #: Seconds a request body may stall between two reads before the connection is closed (408).
    body_timeout: float = 15.0
    #: Largest header section (bytes, request line included); a larger one is answered 400.
    max_header_bytes: int = 64 * 1024
    #: Open connections one client (IP address) may hold; further ones are closed at once.
    max_client_connections: int = 64
    #: Open connections in all; further requests get 503 (uvicorn's ``limit_concurrency``).
    max_connections: int = 2048
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1

    def __post_init__(self) -> None:
        if not self.path.startswith("/"):
            raise ValueError(f"path must start with '/': {self.path!r}")
        if self.max_bytes <= 0 or self.max_inflated_bytes <= 0:
            raise ValueError("size limits must be positive")
        if any(v is not None and v < 0 for v in (self.inbox_backlog_events, self.inbox_backlog_bytes)):
            raise ValueError("the inbox backlog limit must not be negative")
        if self.latency_budget <= 0:
            raise ValueError("latency_budget must be positive")
        if self.workers < 1:
            raise ValueError("workers must be at least 1")
        if not 0 <= self.port <= 65535:
            # the resolver would otherwise take it modulo 65536 and listen somewhere unsaid
            raise ValueError(f"port must be between 0 and 65535, not {self.port}")
        for name in ("header_timeout", "body_timeout", "auth_window"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        for name in ("key_cache_seconds", "auth_failures", "retry_after"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        for name in ("max_header_bytes", "max_client_connections", "max_connections"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")

    @property
    def sqlite(self) -> bool:
        return self.db.split(":", 1)[0].lower() == "sqlite"

    def to_env(self) -> str:
        return msgspec.json.encode(self).decode()

    @classmethod
    def from_env(cls) -> Settings:
        """The settings the parent ``serve`` process put in the environment."""
        raw = os.environ.get(SETTINGS_ENV)
        if not raw:
            raise RuntimeError(f"{SETTINGS_ENV} is not set; start workers with `caliper-stream serve`")
        return msgspec.json.decode(raw, type=cls)
