"""``serve`` (the HTTP endpoint Learn posts to) and ``keys`` (the API keys it accepts)."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from caliper_stream.cli.common import DbOpt, fail, print_table
from caliper_stream.errors import CaliperStreamError, StoreError

keys_app = typer.Typer(help="API keys: one per Learn site or provider; its name is each event's source.", no_args_is_help=True)


def serve(
    db: DbOpt = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[
        int,
        typer.Option(help="Worker processes. SQLite: 1 (one writer groups all requests into each commit). "
                     "PostgreSQL: N processes, each with its own writer."),
    ] = 1,
    path: Annotated[str, typer.Option(help="Path Learn posts to (its Service URL's path).")] = "/caliper",
    max_bytes: Annotated[int, typer.Option("--max-bytes", help="Largest request body, in bytes.")] = 16 * 1024 * 1024,
    durability: Annotated[
        str,
        typer.Option(help="SQLite: 'full' acknowledges only what survives a power loss (fsync per commit); "
                     "'normal' survives a crash of the server, not a power loss."),
    ] = "full",  # = server.settings.DURABILITY (not imported here: it would import the server)
    inbox_backlog: Annotated[
        str,
        typer.Option("--inbox-backlog", metavar="EVENTS_OR_BYTES",
                     help="Digest backlog above which requests get 429: bytes of inboxed bodies "
                     "(2GiB, 512MiB) or a number of events (100000)."),
    ] = "2GiB",
    latency_budget: Annotated[
        float, typer.Option("--latency-budget", help="Seconds a request should take at most: requests in "
                            "progress beyond what the server finishes in this time get 429.")
    ] = 2.0,
    key_cache_seconds: Annotated[
        float, typer.Option("--key-cache-seconds", help="How long a key lookup is cached (revocation delay).")
    ] = 1.0,
    public_metrics: Annotated[
        bool, typer.Option("--public-metrics", help="Serve /metrics without an API key.")
    ] = False,
    auth_failures: Annotated[
        int, typer.Option("--auth-failures", help="Wrong API keys a client may send per --auth-window "
                          "before it gets 429 (0: no limit).")
    ] = 20,
    auth_window: Annotated[float, typer.Option("--auth-window", help="Seconds over which wrong keys count.")] = 60.0,
    header_timeout: Annotated[
        float, typer.Option("--header-timeout", help="Seconds a client has to send a request's headers.")
    ] = 10.0,
    body_timeout: Annotated[
        float, typer.Option("--body-timeout", help="Seconds a request body may stall before 408.")
    ] = 15.0,
    max_client_connections: Annotated[
        int, typer.Option("--max-client-connections", help="Open connections per client address.")
    ] = 64,
) -> None:
    """Receive Caliper events over HTTP: POST/GET PATH, /healthz, /readyz, /metrics, /openapi.json, /docs."""
    from caliper_stream.privacy import protection_for
    from caliper_stream.server import (
        SETTINGS_ENV,
        SUPERVISOR_ENV,
        Settings,
        create_app,
        store_options,
    )
    from caliper_stream.store import default_db_url, open_store, redact

    if durability not in ("normal", "full"):
        fail("--durability must be 'normal' or 'full'")
    from caliper_stream.server.overload import parse_backlog

    url = default_db_url(db)
    try:
        backlog_events, backlog_bytes = parse_backlog(inbox_backlog)
        settings = Settings(
            db=url, path=path, max_bytes=max_bytes, durability=durability,  # type: ignore[arg-type]
            inbox_backlog_events=backlog_events, inbox_backlog_bytes=backlog_bytes, latency_budget=latency_budget,
            key_cache_seconds=key_cache_seconds,
            public_metrics=public_metrics, auth_failures=auth_failures, auth_window=auth_window,
            header_timeout=header_timeout, body_timeout=body_timeout,
            max_client_connections=max_client_connections, host=host, port=port, workers=workers,
        )
    except ValueError as exc:
        fail(str(exc))
    if workers > 1 and settings.sqlite:
        fail("--workers > 1 needs PostgreSQL: SQLite has one writer, and one process already "
              "groups concurrent requests into each commit")
    try:
        store = open_store(url, **store_options(settings))
    except StoreError as exc:
        fail(str(exc))
    try:
        protection_for(store)  # a pseudonymous store without its secret must not start
    except CaliperStreamError as exc:
        store.close()
        fail(str(exc))
    where = f"{redact(url)} on http://{host}:{port}{path}"
    if workers == 1:
        _serve_one(settings, create_app(settings, store, close_store=True), where)
        return
    store.close()  # the database is migrated; each worker opens its own connections
    import os

    os.environ[SETTINGS_ENV] = settings.to_env()
    os.environ[SUPERVISOR_ENV] = str(os.getpid())  # workers exit once this process is gone
    _serve_workers(settings, where)


def _uvicorn_config(settings: Any, app: Any, **extra: Any) -> Any:
    """uvicorn's configuration for `settings`: the guarded httptools protocol and the limits."""
    import uvicorn

    from caliper_stream.server.connections import GuardedHttpToolsProtocol

    GuardedHttpToolsProtocol.configure(settings)
    return uvicorn.Config(
        app, host=settings.host, port=settings.port, access_log=False, log_level="warning",
        timeout_graceful_shutdown=30, server_header=False, http=GuardedHttpToolsProtocol,
        limit_concurrency=settings.max_connections, timeout_keep_alive=5, **extra,
    )


def _serve_one(settings: Any, app: Any, where: str) -> None:
    """One process: announce once the port is bound and the app started (writer included)."""
    import uvicorn

    class Announcing(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            if self.started:
                health = app.state.health
                why = await health.writable()
                if why is None:
                    typer.echo(f"caliper-stream: serving {where}", err=True)
                else:
                    typer.echo(f"caliper-stream: listening on {where}, but not storing: {why}; "
                               "requests get 503 until the database can write", err=True)

    server = Announcing(_uvicorn_config(settings, app))
    server.run()
    if not server.started:
        fail(f"could not serve {where} (see the message above)")


def _serve_workers(settings: Any, where: str) -> None:
    """N worker processes behind one bound socket (uvicorn's supervisor)."""
    from uvicorn.supervisors import Multiprocess

    config = _uvicorn_config(settings, "caliper_stream.server:app_from_env", factory=True, workers=settings.workers)
    sock = config.bind_socket()
    typer.echo(f"caliper-stream: serving {where} ({settings.workers} workers)", err=True)
    Multiprocess(config, sockets=[sock]).run()


@keys_app.command("add")
def keys_add(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Name of the site or provider; recorded as the source of its events.")],
    db: DbOpt = None,
    key: Annotated[
        str | None,
        typer.Option("--key", metavar="KEY", help="Register this key (e.g. one Learn generated) instead of a new one."),
    ] = None,
    role: Annotated[
        str, typer.Option("--role", metavar="write|read|admin", help="write: sends events (Learn's); read: the read API and dashboard; admin.")
    ] = "write",
    identity: Annotated[
        bool, typer.Option("--identity", help="read/admin: may see people's names and external ids.")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Register a --key even if it is short or easy to guess.")] = False,
) -> None:
    """Create a key for NAME and print it (alone, on stdout): it is shown only this once.

    A --key must have 16 characters or more and enough entropy (unless --force), and must not
    be the active key of another name: one key, one source."""
    from caliper_stream.server.auth import generate_key, hash_key, weak_key
    from caliper_stream.store import open_store
    from caliper_stream.store.base import ROLES

    if role not in ROLES:
        fail(f"--role must be one of {', '.join(ROLES)}")
    if identity and role == "write":
        fail("--identity is a right of read and admin keys; a write key never reads")
    new = key is None
    secret = generate_key() if key is None else key.strip()
    if not secret:
        fail("the key is empty")
    why = None if new else weak_key(secret)
    if why is not None and not force:
        fail(f"refusing a weak key: {why}; anyone could guess it. Use a generated key "
             "(leave out --key), or --force to register it anyway")
    try:
        store = open_store(db)
        try:
            store.add_key(name, hash_key(secret), role=role, identity=identity)
        finally:
            store.close()
    except StoreError as exc:
        fail(str(exc))
    if new:
        sys.stdout.write(secret + "\n")
    typer.echo(f"{role} API key {name!r} added; send it as 'Authorization: Bearer <key>' or 'Authorization: <key>'", err=True)


@keys_app.command("list")
def keys_list(db: DbOpt = None) -> None:
    """Every key's name, creation and revocation time (never the key)."""

    from caliper_stream.store import open_store

    try:
        store = open_store(db)
        try:
            keys = store.list_keys()
        finally:
            store.close()
    except StoreError as exc:
        fail(str(exc))
    rows = [{"name": k.name, "role": k.role, "identity": "yes" if k.identity else None, "created": k.created_at,
             "revoked": k.revoked_at, "hash": k.key_hash[:12]} for k in keys]
    print_table(rows, ["name", "role", "identity", "created", "revoked", "hash"])


@keys_app.command("revoke")
def keys_revoke(name: Annotated[str, typer.Argument(help="Key to revoke.")], db: DbOpt = None) -> None:
    """Revoke NAME's active key (a running server refuses it within --key-cache-seconds)."""
    from caliper_stream.store import open_store

    try:
        store = open_store(db)
        try:
            found = store.revoke_key(name)
        finally:
            store.close()
    except StoreError as exc:
        fail(str(exc))
    if not found:
        fail(f"no active API key named {name!r}")
    typer.echo(f"API key {name!r} revoked", err=True)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("serve")(serve)
    app.add_typer(keys_app, name="keys")
