"""``caliper-stream demo``, the README's first command, as a newcomer runs it (a real subprocess)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path


def demo(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "caliper_stream", "demo", "--courses", "2", "--students", "8", "--days", "5", "--no-wait", *args]
    return subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=180)


def counts(db: Path) -> tuple[int, set[str]]:
    with sqlite3.connect(db) as conn:
        total = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        sources = {s for (s,) in conn.execute("SELECT DISTINCT source FROM events")}
    return total, sources


def test_demo_fills_a_store_and_can_be_run_again(tmp_path: Path) -> None:
    first = demo(tmp_path)
    assert first.returncode == 0, first.stderr
    assert "what arrived" in first.stdout
    assert "0 failed" in first.stdout
    assert "caliper-stream report gradebook" in first.stdout
    total, sources = counts(tmp_path / "caliper-demo.db")
    assert total > 100
    assert sources == {"demo-learn"}
    again = demo(tmp_path)  # the same seed: the same store again
    assert again.returncode == 0, again.stderr
    assert "replacing" in again.stdout
    assert counts(tmp_path / "caliper-demo.db") == (total, sources)


def test_demo_never_replaces_a_store_it_did_not_make(tmp_path: Path) -> None:
    real = tmp_path / "real.db"
    with sqlite3.connect(real) as conn:
        conn.execute("CREATE TABLE keep (x)")
    result = demo(tmp_path, "--db", str(real))
    assert result.returncode == 1
    assert "not a demo store" in result.stderr
    with sqlite3.connect(real) as conn:
        assert conn.execute("SELECT name FROM sqlite_master").fetchall() == [("keep",)]
