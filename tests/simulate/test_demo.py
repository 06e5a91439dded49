"""``caliper-stream demo``, the README's first command, as a newcomer runs it (a real subprocess)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path


def demo(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "caliper_stream", "demo", "--courses", "2", "--students", "8", "--days", "5", *args]
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


def test_demo_on_a_chosen_port_says_it_and_explains_the_duplicates(tmp_path: Path) -> None:
    import re
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = demo(tmp_path, "--port", str(port), "--temp")
    assert result.returncode == 0, result.stderr
    assert f"http://127.0.0.1:{port}/caliper (port {port}" in result.stdout
    sent = int(re.search(r"([\d,]+) sent, ", result.stdout).group(1).replace(",", ""))  # type: ignore[union-attr]
    distinct = int(re.search(r"what arrived: ([\d,]+) distinct", result.stdout).group(1).replace(",", ""))  # type: ignore[union-attr]
    assert sent > distinct
    assert f"= {sent - distinct:,}: the simulated duplicate deliveries" in result.stdout
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        refused = demo(tmp_path, "--port", str(taken), "--temp")
    assert refused.returncode == 1
    assert f"port {taken} on 127.0.0.1 is in use" in refused.stderr
