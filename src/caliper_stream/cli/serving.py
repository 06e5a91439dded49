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
        typer.Option(help="SQLite: 'normal' survives a crash of the server; 'full' also a power loss (fsync per commit)."),
    ] = "normal",
    overload_events: Annotated[
        int, typer.Option("--overload-events", help="Uncommitted events above which requests get 429.")
    ] = 50_000,
    writer_process: Annotated[
        bool | None,
        typer.Option(
            "--writer-process/--in-process-writer",
            help="Run the store writer in a child process (default: yes for SQLite, no for PostgreSQL).",
            show_default=False,
        ),
    ] = None,
    key_cache_seconds: Annotated[
        float, typer.Option("--key-cache-seconds", help="How long a key lookup is cached (revocation delay).")
    ] = 1.0,
) -> None:
    """Receive Caliper events over HTTP: POST/GET PATH, /healthz, /readyz, /metrics, /openapi.json."""
    import uvicorn

    from caliper_stream.privacy import protection_for
    from caliper_stream.server import SETTINGS_ENV, Settings, create_app, store_options
    from caliper_stream.store import default_db_url, open_store, redact

    if durability not in ("normal", "full"):
        fail("--durability must be 'normal' or 'full'")
    url = default_db_url(db)
    try:
        settings = Settings(
            db=url, path=path, max_bytes=max_bytes, durability=durability,  # type: ignore[arg-type]
            overload_events=overload_events, key_cache_seconds=key_cache_seconds, writer_process=writer_process,
            host=host, port=port, workers=workers,
        )
    except ValueError as exc:
        fail(str(exc))
    if workers > 1 and settings.sqlite:
        fail("--workers > 1 needs PostgreSQL: SQLite has one writer, and one process already "
              "groups concurrent requests into each commit")
    options: dict[str, Any] = {"host": host, "port": port, "access_log": False, "log_level": "warning",
               "timeout_graceful_shutdown": 30, "server_header": False}
    typer.echo(f"caliper-stream: serving {redact(url)} on http://{host}:{port}{path}", err=True)
    try:
        store = open_store(url, **store_options(settings))
    except StoreError as exc:
        fail(str(exc))
    try:
        protection_for(store)  # a pseudonymous store without its secret must not start
    except CaliperStreamError as exc:
        store.close()
        fail(str(exc))
    if workers == 1:
        app = create_app(settings, store, close_store=True)
        uvicorn.run(app, **options)
        return
    store.close()  # the database is migrated; each worker opens its own connections
    import os

    os.environ[SETTINGS_ENV] = settings.to_env()
    uvicorn.run("caliper_stream.server:app_from_env", factory=True, workers=workers, **options)


@keys_app.command("add")
def keys_add(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Name of the site or provider; recorded as the source of its events.")],
    db: DbOpt = None,
    key: Annotated[
        str | None,
        typer.Option("--key", metavar="KEY", help="Register this key (e.g. one Learn generated) instead of a new one."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Register a --key even if it is short or easy to guess.")] = False,
) -> None:
    """Create a key for NAME and print it (alone, on stdout): it is shown only this once.

    A --key must have 16 characters or more and enough entropy (unless --force), and must not
    be the active key of another name: one key, one source."""
    from caliper_stream.server.auth import generate_key, hash_key, weak_key
    from caliper_stream.store import open_store

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
            store.add_key(name, hash_key(secret))
        finally:
            store.close()
    except StoreError as exc:
        fail(str(exc))
    if new:
        sys.stdout.write(secret + "\n")
    typer.echo(f"API key {name!r} added; send it as 'Authorization: Bearer <key>' or 'Authorization: <key>'", err=True)


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
    rows = [{"name": k.name, "created": k.created_at, "revoked": k.revoked_at, "hash": k.key_hash[:12]} for k in keys]
    print_table(rows, ["name", "created", "revoked", "hash"])


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
