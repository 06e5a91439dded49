"""``caliper-stream demo`` ends by serving the dashboard with a read key, until Ctrl-C."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx


def test_demo_serves_the_dashboard_until_interrupted(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "caliper_stream", "demo", "--courses", "2", "--students", "6", "--days", "3"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 150
        line = ""
        while time.monotonic() < deadline and not line.startswith("dashboard:"):
            line = proc.stdout.readline()
            assert line or proc.poll() is None, "demo ended before printing the dashboard"
        found = re.match(r"dashboard: (http://\S+/dashboard/)\s+sign in with the read key (\S+)", line)
        assert found, line
        url, key = found.groups()
        base = url.removesuffix("/dashboard/")
        time.sleep(1.2)  # the server's key cache (1 s) learns the new key
        reports = httpx.get(base + "/api/reports/gradebook", headers={"Authorization": f"Bearer {key}"}, timeout=10)
        assert reports.status_code == 200
        assert reports.json()["total"] > 0
        assert httpx.get(base + "/api/reports", timeout=10).status_code == 401
        assert proc.poll() is None  # still serving
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=40) == 0
        try:
            httpx.get(base + "/healthz", timeout=2)
            raise AssertionError("the server is still running after Ctrl-C")
        except httpx.TransportError:
            pass
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_demo_no_wait_exits_after_printing_the_dashboard(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "caliper_stream", "demo", "--courses", "1", "--students", "4", "--days", "2", "--no-wait"],
        cwd=tmp_path, capture_output=True, text=True, timeout=150,
    )
    assert done.returncode == 0, done.stderr
    assert re.search(r"^dashboard: http://127\.0\.0\.1:\d+/dashboard/ +sign in with the read key \S+$", done.stdout, re.M)
