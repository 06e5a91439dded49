"""Acknowledged and digested events/s of ``serve`` (inbox path) against a bare reference store.

In one run, on fresh SQLite files:

1. reference: raw ASGI on granian, msgspec decode of the ids only, ``executemany`` of the raw
   events into SQLite WAL, one transaction per request, no dedupe, no key data;
2. ``caliper-stream serve``, no summary asked (the inbox path).

Both are loaded by ``wrk -t2 -c8`` for ``--seconds`` with 100-event envelopes of Learn's
AssessmentItemEvent sample whose ids are fresh per request (made by the Lua script). For
``serve`` the script then waits for the inbox to drain and reports the digest rate too
(events stored / time from the start of the load to an empty inbox). Ratios matter: the
machine is shared, so say the load average (printed) with any figure.

    python benchmarks/inbox_bench.py [--seconds 10] [--connections 8]
"""

from __future__ import annotations

import argparse
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec

sys.path.insert(0, str(Path(__file__).parent))
from learn_payloads import sample_events

EVENTS = 100
_LUA = r"""
local pieces = {PIECES}
local counter = 0
local threads = 0
function setup(thread) thread:set("tid", threads); threads = threads + 1 end
request = function()
  counter = counter + 1
  local req = string.format("%08x", tid * 100000000 + counter)
  local out = {}
  for i = 1, #pieces - 1 do
    out[#out + 1] = pieces[i]
    out[#out + 1] = req
  end
  out[#out + 1] = pieces[#pieces]
  return wrk.format("POST", "/caliper", {
    ["Authorization"] = "Bearer KEY", ["Content-Type"] = "application/json"}, table.concat(out))
end
"""


# --- the reference store (run by granian as ``inbox_bench:reference``) ------------------------

class _Ids(msgspec.Struct):
    data: list[dict[str, Any]]


_decode = msgspec.json.Decoder(_Ids).decode
_conn: sqlite3.Connection | None = None


async def reference(scope: dict[str, Any], receive: Any, send: Any) -> None:
    global _conn
    if scope["type"] != "http":
        return
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    body = b"".join(chunks)
    if _conn is None:
        _conn = sqlite3.connect(os.environ["INBOX_BENCH_DB"], isolation_level=None)
        _conn.execute("PRAGMA journal_mode=WAL")
        _conn.execute("PRAGMA synchronous=NORMAL")
        _conn.execute("CREATE TABLE IF NOT EXISTS events (id TEXT, raw BLOB)")
    events = _decode(body).data
    _conn.execute("BEGIN")
    _conn.executemany("INSERT INTO events VALUES (?, ?)", [(e.get("id"), msgspec.json.encode(e)) for e in events])
    _conn.execute("COMMIT")
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})


# --- the run ---------------------------------------------------------------------------------

def _body_pieces() -> list[bytes]:
    sample = next(e for e in sample_events() if e.get("type") == "AssessmentItemEvent")
    events = []
    for i in range(EVENTS):
        e = dict(sample)
        e["id"] = f"urn:uuid:@@@@@@@@-0000-4000-8000-{i:012d}"
        events.append(e)
    body = msgspec.json.encode({"sensor": "s", "sendTime": "2021-01-05T14:50:26.769Z",
                                "dataVersion": "http://purl.imsglobal.org/ctx/caliper/v1p1", "data": events})
    return body.split(b"@@@@@@@@")


def _lua(key: str) -> str:
    def lua_string(b: bytes) -> str:
        return "[==[" + b.decode() + "]==]"
    pieces = "{" + ", ".join(lua_string(p) for p in _body_pieces()) + "}"
    return _LUA.replace("{PIECES}", pieces).replace("KEY", key)


def _wrk(port: int, script: Path, seconds: int, connections: int) -> tuple[float, str]:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), f"http://127.0.0.1:{port}"],
        capture_output=True, text=True, check=True,
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+(\S+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rate * EVENTS, f"p99 {p99.group(1) if p99 else '?'}, non-2xx {non2xx.group(1) if non2xx else 0}"


def _wait_port(port: int, timeout: float = 60) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=8)
    args = ap.parse_args()
    cli = [sys.executable, "-m", "caliper_stream"]
    with tempfile.TemporaryDirectory() as tmp:
        print("load average before:", os.getloadavg())
        # 1. reference
        env = {**os.environ, "INBOX_BENCH_DB": f"{tmp}/ref.db"}
        ref = subprocess.Popen(
            ["granian", "--interface", "asgi", "--port", "18731", "inbox_bench:reference"],
            cwd=Path(__file__).parent, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            _wait_port(18731)
            script = Path(tmp, "post.lua")
            script.write_text(_lua(""))
            ref_rate, ref_info = _wrk(18731, script, args.seconds, args.connections)
        finally:
            ref.terminate()
            ref.wait()
        print(f"reference: {ref_rate:,.0f} events/s acknowledged ({ref_info}); load {os.getloadavg()}")
        # 2. serve
        db = f"sqlite:///{tmp}/serve.db"
        subprocess.run([*cli, "db", "upgrade", "--db", db], check=True, capture_output=True)
        key = subprocess.run([*cli, "keys", "add", "bench", "--db", db], check=True, capture_output=True,
                             text=True).stdout.strip()
        script.write_text(_lua(key))
        serve = subprocess.Popen([*cli, "serve", "--db", db, "--port", "18732", "--inbox-backlog", "100000000"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait_port(18732)
            time.sleep(1)
            started = time.monotonic()
            rate, info = _wrk(18732, script, args.seconds, args.connections)
            load_end = time.monotonic()
            conn = sqlite3.connect(f"{tmp}/serve.db")
            while conn.execute("SELECT count(*) FROM inbox").fetchone()[0]:
                time.sleep(0.2)
            drained = time.monotonic()
            stored = conn.execute("SELECT count(*) FROM events").fetchone()[0]
            conn.close()
        finally:
            serve.terminate()
            serve.wait()
        print(f"serve: {rate:,.0f} events/s acknowledged ({info}), {rate / ref_rate:.2f}x the reference; "
              f"{stored:,} events stored, inbox empty {drained - load_end:.1f} s after the load: "
              f"{stored / (drained - started):,.0f} events/s digested; load {os.getloadavg()}")


if __name__ == "__main__":
    main()
