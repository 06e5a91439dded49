"""The ingest benchmark measures what it says: the reference store keeps each event's bytes, and
the wrk script sends every event with a fresh id (else dedupe would flatter ``serve``)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
sys.path.insert(0, str(BENCH))

from ingest_bench import LUA, PLACEHOLDER, learn_templates  # noqa: E402


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def reference(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A running reference store on SQLite: its URL and database file."""
    port, db = _port(), tmp_path / "ref.db"
    with (tmp_path / "ref.log").open("wb") as log:
        proc = subprocess.Popen([sys.executable, str(BENCH / "reference_store.py"), "--port", str(port), "--db", str(db)],
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, (tmp_path / "ref.log").read_text()
            assert time.monotonic() < deadline, "the reference store did not start within 30 s"
            time.sleep(0.1)
        yield url, db
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _stored(db: Path) -> list[tuple[str, bytes]]:
    with sqlite3.connect(db) as conn:
        return [(i, bytes(raw)) for i, raw in conn.execute("SELECT id, raw FROM events")]


def test_the_reference_stores_each_events_bytes_and_refuses_junk(reference: tuple[str, Path]) -> None:
    url, db = reference
    envelope = json.loads(learn_templates()[0])
    for n, event in enumerate(envelope["data"]):
        event["id"] = f"{n:08x}-0000-4000-8000-000000000000"
    body = json.dumps(envelope).encode()
    assert httpx.post(url + "/caliper", content=body, timeout=30).status_code == 200
    assert httpx.post(url + "/caliper", content=b'{"data": 3}', timeout=30).status_code == 400
    rows = _stored(db)
    assert [i for i, _ in rows] == [e["id"] for e in envelope["data"]]
    assert [json.loads(raw) for _, raw in rows] == envelope["data"]
    assert all(raw in body for _, raw in rows)  # the bytes as sent, not re-encoded


@pytest.mark.skipif(shutil.which("wrk") is None and os.environ.get("CI") != "true", reason="wrk is not installed")
def test_the_wrk_script_sends_fresh_ids_and_otherwise_the_sample(reference: tuple[str, Path], tmp_path: Path) -> None:
    url, db = reference
    template = learn_templates()[0]
    (tmp_path / "learn.templates").write_text(template + "\n")
    out = subprocess.run(["wrk", "-t2", "-c2", "-d1s", "-s", str(LUA), url + "/caliper", "--",
                          str(tmp_path / "learn.templates"), "key", "0badcafe"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    result = json.loads(next(x for x in out.splitlines() if x.startswith("WRK_RESULT ")).removeprefix("WRK_RESULT "))
    rows = _stored(db)
    assert result["non2xx"] == 0
    assert len(rows) >= 100 * result["requests"] > 0  # wrk does not count the answers it stopped waiting for
    ids = [i for i, _ in rows]
    assert len(set(ids)) == len(ids)
    assert all(i.startswith("0badcafe-") and len(i) == len(PLACEHOLDER) for i in ids)
    sample = json.loads(template)["data"][0]
    assert all(json.loads(raw) == {**sample, "id": i} for i, raw in rows)
