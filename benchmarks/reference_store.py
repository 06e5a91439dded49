"""A bare-bones Caliper event store: the yardstick `caliper-stream serve` is measured against.

Everything a store must do at the least and nothing more: a raw ASGI callable (no framework)
served by granian with one worker reads the whole body, decodes only each event's ``id`` with
msgspec (the event's own bytes kept as ``msgspec.Raw``), and inserts ``(id, raw)`` with one
``executemany`` in one transaction per request, off the event loop, before answering 200.
No dedupe, no key data, no authentication, no dead letters: whatever ``serve`` does beyond
this is what it costs.

    python benchmarks/reference_store.py --port 8100 --db /tmp/ref.db
    python benchmarks/reference_store.py --port 8100 --pg postgresql://127.0.0.1:5432/test

SQLite: one table in WAL mode with ``synchronous=NORMAL`` (the durability of ``serve``'s
default), written by one thread (SQLite has one writer anyway; several would only wait on its
lock). PostgreSQL: ``--pg-threads`` threads (default 4), each with its own connection, since
PostgreSQL commits concurrent transactions in parallel. ``--schema`` puts the table in a schema
(created if missing), so that a benchmark can use a fresh one.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import sys
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import msgspec

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class IdOnly(msgspec.Struct):
    """The one field of an event the reference looks at; msgspec skips the rest unparsed."""

    id: str


class Envelope(msgspec.Struct):
    """An envelope whose events stay raw bytes: they are stored exactly as received."""

    data: list[msgspec.Raw]


_envelope = msgspec.json.Decoder(Envelope)
_id_only = msgspec.json.Decoder(IdOnly)


def rows(body: bytes) -> list[tuple[str, bytes]]:
    """(id, raw event bytes) for each event of an envelope."""
    return [(_id_only.decode(raw).id, bytes(raw)) for raw in _envelope.decode(body).data]


class SQLiteSink:
    """One connection, used by one thread: one transaction per request."""

    def __init__(self, path: str) -> None:
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS events (id TEXT NOT NULL, raw BLOB NOT NULL)")
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")

    def write(self, body: bytes) -> int:
        batch = rows(body)
        self.db.execute("BEGIN")
        try:
            self.db.executemany("INSERT INTO events (id, raw) VALUES (?, ?)", batch)
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")
        return len(batch)


class PostgresSink:
    """One connection per thread; each request is one ``executemany`` in one transaction."""

    def __init__(self, url: str, schema: str | None, threads: int) -> None:
        import psycopg

        self.psycopg = psycopg
        self.url = url
        self.schema = schema
        with psycopg.connect(url, autocommit=True) as db:
            if schema:
                db.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            db.execute(f"CREATE TABLE IF NOT EXISTS {self._table()} (id TEXT NOT NULL, raw BYTEA NOT NULL)")
        self.local = threading.local()
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="pg-writer")

    def _table(self) -> str:
        return f'"{self.schema}".events' if self.schema else "events"

    def write(self, body: bytes) -> int:
        batch = rows(body)
        db = getattr(self.local, "db", None)
        if db is None or db.closed:
            db = self.local.db = self.psycopg.connect(self.url)
        with db.transaction(), db.cursor() as cur:
            cur.executemany(f"INSERT INTO {self._table()} (id, raw) VALUES (%s, %s)", batch)
        return len(batch)


def _sink() -> SQLiteSink | PostgresSink:
    if pg := os.environ.get("REFERENCE_STORE_PG"):
        threads = int(os.environ.get("REFERENCE_STORE_PG_THREADS", "4"))
        return PostgresSink(pg, os.environ.get("REFERENCE_STORE_SCHEMA") or None, threads)
    return SQLiteSink(os.environ.get("REFERENCE_STORE_DB", "reference.db"))


_state: dict[str, SQLiteSink | PostgresSink] = {}


async def _answer(send: Send, status: int) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """The whole store: read the body, write its events in a thread, then answer."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                _state["sink"] = _sink()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    if "sink" not in _state:  # a server without lifespan support
        _state["sink"] = _sink()
    sink = _state["sink"]
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    if scope["method"] != "POST":
        await _answer(send, 200 if scope["path"] in ("/healthz", "/readyz") else 405)
        return
    body = b"".join(chunks)
    try:
        await asyncio.get_running_loop().run_in_executor(sink.executor, sink.write, body)
    except msgspec.DecodeError:
        await _answer(send, 400)
        return
    await _answer(send, 200)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--db", help="SQLite file")
    where.add_argument("--pg", help="PostgreSQL URL (psycopg 3)")
    parser.add_argument("--schema", help="PostgreSQL schema for the events table (created if missing)")
    parser.add_argument("--pg-threads", type=int, default=4, help="PostgreSQL connections (one per thread)")
    args = parser.parse_args()
    env = dict(os.environ)
    if args.pg:
        env.update(REFERENCE_STORE_PG=args.pg, REFERENCE_STORE_PG_THREADS=str(args.pg_threads))
        if args.schema:
            env["REFERENCE_STORE_SCHEMA"] = args.schema
    else:
        env["REFERENCE_STORE_DB"] = os.path.abspath(args.db)
    here = os.path.dirname(os.path.abspath(__file__))
    granian = os.path.join(os.path.dirname(sys.executable), "granian")
    command = [granian, "--interface", "asgi", "--workers", "1", "--host", args.host, "--port", str(args.port),
               "--working-dir", here, "--no-log", "reference_store:app"]
    os.execve(granian, command, env)


if __name__ == "__main__":
    main()
