"""Durability and recovery: what a commit survives, and coming back after the database did."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from storekit import synthetic_rows

from caliper_stream.errors import StoreError, StoreUnavailable
from caliper_stream.store import open_store
from caliper_stream.store.postgres import PostgresStore
from caliper_stream.store.sqlite import PAGE_SIZE, WAL_CHECKPOINT_BYTES, SQLiteStore


@pytest.mark.parametrize(("query", "level"), [("", 1), ("?durability=full", 2)])
def test_sqlite_durability_setting(tmp_path: Path, query: str, level: int) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'd.db'}{query}")
    try:
        assert isinstance(store, SQLiteStore)
        assert store._conn.execute("PRAGMA synchronous").fetchone() == (level,)
        assert store._conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        store.close()


def test_serve_acknowledges_only_what_survives_a_power_loss_unless_told_otherwise(tmp_path: Path) -> None:
    """`serve` opens SQLite (database and inbox) with ``synchronous=FULL`` by default: a 2xx
    follows an fsync of the inbox. The CLI's default is the settings' default."""
    import inspect

    from caliper_stream.cli.serving import serve
    from caliper_stream.server import store_options
    from caliper_stream.server.settings import DURABILITY, Settings
    from caliper_stream.store.base import Inboxed

    assert inspect.signature(serve).parameters["durability"].default == DURABILITY == "full"
    for durability, level in ((None, 2), ("normal", 1)):
        db = f"sqlite:///{tmp_path / f'{durability}.db'}"
        settings = Settings(db=db) if durability is None else Settings(db=db, durability=durability)
        store = open_store(settings.db, **store_options(settings))
        try:
            assert isinstance(store, SQLiteStore)
            store.inbox_put([Inboxed(b"{}", "s", "2026-12-07T00:00:00.000Z")])
            assert store._conn.execute("PRAGMA synchronous").fetchone() == (level,)
            assert store.inbox._conn is not None
            assert store.inbox._conn.execute("PRAGMA synchronous").fetchone() == (level,)
        finally:
            store.close()


def test_sqlite_page_size_applies_to_new_databases_only(tmp_path: Path) -> None:
    """New files get 16 KiB pages; an existing file keeps its own, and its WAL checkpoint
    interval stays ~64 MB whatever the page size."""
    old = tmp_path / "old.db"
    sqlite3.connect(old).execute("CREATE TABLE t (x)").connection.close()  # SQLite's 4 KiB default
    for path, page_size in ((tmp_path / "new.db", PAGE_SIZE), (old, 4096)):
        store = open_store(f"sqlite:///{path}")
        try:
            assert isinstance(store, SQLiteStore)
            assert store._conn.execute("PRAGMA page_size").fetchone() == (page_size,)
            assert store._conn.execute("PRAGMA wal_autocheckpoint").fetchone() == (WAL_CHECKPOINT_BYTES // page_size,)
            rows = synthetic_rows(3)
            assert store.write(rows).accepted == 3
            stored = dict(store.query("SELECT event_key, raw FROM event_view"))
            assert stored == {r.event_key: r.raw for r in rows}
            assert store.query("SELECT count(*), typeof(raw) FROM events WHERE score IS NULL") == [(3, "blob")]
        finally:
            store.close()


def test_bad_durability_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError):
        open_store(f"sqlite:///{tmp_path / 'd.db'}", durability="sometimes")


def test_sqlite_commit_survives_kill_9(tmp_path: Path) -> None:
    """A write that returned is on disk even if the process dies right after (no close)."""
    db = tmp_path / "k.db"
    script = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from storekit import synthetic_rows
        from caliper_stream.store import open_store
        store = open_store({f"sqlite:///{db}"!r})
        for _ in range(5):
            store.write(synthetic_rows(1000))
        print("committed", flush=True)
        time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "committed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    store = open_store(f"sqlite:///{db}")
    try:
        assert store.query("SELECT count(*) FROM events") == [(5000,)]
    finally:
        store.close()


@pytest.mark.postgres
@pytest.mark.parametrize(("configured", "used"), [("off", "on"), ("local", "local"), ("remote_apply", "remote_apply")])
def test_postgres_commits_are_durable_whatever_synchronous_commit_says(
    pg_url: str, configured: str, used: str
) -> None:
    """``synchronous_commit = off`` (here from the URL; a server, database or role setting is
    the same to the session) would answer 2xx before the commit is on disk: the write
    connection turns it on, also after a reconnect, and leaves every other setting alone."""
    url = pg_url.replace("options=", f"options={quote(f'-c synchronous_commit={configured} ')}", 1)
    store = open_store(url)
    try:
        assert isinstance(store, PostgresStore)
        assert store.query("SHOW synchronous_commit") == [(configured,)]  # what the URL asked for
        store.write(synthetic_rows(2))
        assert store._conn is not None
        assert store._conn.execute("SHOW synchronous_commit").fetchone() == (used,)
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (store._conn.info.backend_pid,))
        with pytest.raises(StoreUnavailable):
            store.write(synthetic_rows(1))
        assert store.write(synthetic_rows(3)).accepted == 3  # reconnected
        assert store._conn.execute("SHOW synchronous_commit").fetchone() == (used,)
    finally:
        store.close()


@pytest.mark.postgres
def test_postgres_write_after_connection_loss(pg_url: str) -> None:
    """A dropped connection fails the write in progress (StoreUnavailable, nothing stored) and
    the next write reconnects."""
    store = open_store(pg_url)
    try:
        store.write(synthetic_rows(3))
        assert isinstance(store, PostgresStore)
        assert store._conn is not None
        pid = store._conn.info.backend_pid  # the write connection
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        rows = synthetic_rows(4)
        with pytest.raises(StoreUnavailable):
            store.write(rows)
        assert store.write(rows).accepted == 4
        assert store.query("SELECT count(*) FROM events") == [(7,)]
    finally:
        store.close()
