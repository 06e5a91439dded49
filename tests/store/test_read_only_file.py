"""A SQLite database that cannot be written: reading commands work, writes say "read-only",
and the same store writes again, without re-opening, once the file is writable."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from storekit import learn_batch

from caliper_stream.errors import StoreUnavailable
from caliper_stream.store import open_store


def _immutable(path: Path, on: bool) -> None:
    """Unwritable for root too: root ignores permission bits, not the immutable attribute."""
    if not on and os.geteuid() == 0:
        subprocess.run(["chattr", "-i", str(path)], check=True)
    path.chmod(0o444 if on else 0o644 if path.is_file() else 0o755)
    if on and os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(path)], check=True)


@pytest.fixture
def frozen(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A database with events, its file and folder then made unwritable (no -wal/-shm left)."""
    folder = tmp_path / "ro"
    folder.mkdir()
    path = folder / "events.db"
    url = f"sqlite:///{path}"
    with open_store(url) as store:
        store.write_batches([learn_batch()])
    _immutable(path, True)
    _immutable(folder, True)
    try:
        yield url, path
    finally:
        _immutable(folder, False)
        _immutable(path, False)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "caliper_stream", *args], capture_output=True, text=True, timeout=60)


def test_reading_commands_work_on_a_read_only_file(frozen: tuple[str, Path]) -> None:
    url, _ = frozen
    stats = cli("stats", "--db", url)
    assert stats.returncode == 0, stats.stderr
    assert "unable to open" not in stats.stderr
    export = cli("export", "--db", url)
    assert export.returncode == 0, export.stderr
    assert export.stdout.count("\n") == len(learn_batch().rows)
    report = cli("report", "activity", "--db", url)
    assert report.returncode == 0, report.stderr


def test_a_refused_write_says_read_only(frozen: tuple[str, Path]) -> None:
    url, _ = frozen
    out = cli("keys", "add", "someone", "--db", url)
    assert out.returncode != 0
    assert "read-only" in out.stderr
    assert "Traceback" not in out.stderr


def test_the_store_writes_again_once_the_file_is_writable(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    url = f"sqlite:///{path}"
    open_store(url).close()
    _immutable(path, True)
    try:
        store = open_store(url)
        assert store.stats().events == 0  # reads work
        with pytest.raises(StoreUnavailable, match="read-only"):
            store.write_batches([learn_batch()])
        with pytest.raises(StoreUnavailable, match="read-only"):
            store.probe_write()
    finally:
        _immutable(path, False)
    try:
        store.probe_write()
        store.write_batches([learn_batch()])
        assert store.stats().events == len(learn_batch().rows)
    finally:
        store.close()
