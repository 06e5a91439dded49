"""Read API latency: each ``/api/…`` answer through a real ``serve`` vs the same question asked of
the library in-process (the reference, measured in the same run on the same store).

Builds a store with ``simulate --out`` + ``import`` (SQLite), starts ``caliper-stream serve``
on a loopback port with a read key, then for every report of `analyse.REPORTS` (site-wide and
for one course) and for ``/api/events`` and ``/api/daily``
takes the median of ``--repeat`` requests, next to the median of direct calls. The ratio is what
HTTP, JSON and the key check add; the absolute figures move with the machine (it may be shared).

    python benchmarks/api_bench.py [--students 400] [--courses 8] [--days 28] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from caliper_stream.analyse import REPORTS
from caliper_stream.server.api import daily
from caliper_stream.simulate.replay import free_port
from caliper_stream.store import open_store


def cli(*args: str) -> str:
    return subprocess.run([sys.executable, "-m", "caliper_stream", *args], check=True, capture_output=True,
                          text=True).stdout


def median_seconds(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--students", type=int, default=400)
    ap.add_argument("--courses", type=int, default=8)
    ap.add_argument("--days", type=int, default=28)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="api-bench-") as tmp:
        db = f"sqlite:///{Path(tmp) / 'events.db'}"
        term = Path(tmp) / "term.jsonl"
        cli("simulate", "--courses", str(args.courses), "--students", str(args.students), "--days", str(args.days),
            "--seed", "7", "--out", str(term))
        cli("import", str(term), "--db", db, "-q")
        key = cli("keys", "add", "bench", "--role", "read", "--db", db).strip()
        store = open_store(db)
        events = store.query("SELECT count(*) FROM events")[0][0]
        course = store.query("SELECT course_number FROM events WHERE course_number IS NOT NULL LIMIT 1")[0][0]
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "caliper_stream", "serve", "--db", db, "--port", str(port)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            client = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {key}"},
                                  timeout=120)
            for _ in range(300):
                try:
                    if client.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
            cases: list[tuple[str, dict[str, Any], Callable[[], Any]]] = []
            for name, fn in REPORTS.items():
                cases.append((f"/api/reports/{name}", {"limit": 10000}, lambda fn=fn: fn(store)))
                if "course" in fn.__code__.co_varnames:
                    cases.append((f"/api/reports/{name}", {"course": course, "limit": 10000},
                                  lambda fn=fn: fn(store, course=course)))
            cases += [
                ("/api/daily", {"limit": 10000}, lambda: daily(store)),
                ("/api/events", {"course": course, "limit": 1000},
                 lambda: store.query("SELECT * FROM events WHERE course_number = ? ORDER BY id LIMIT 1001", [course])),
            ]
            print(f"{events:,} events, {args.courses} courses, {args.students} students; median of {args.repeat}")
            print(f"{'request':58} {'http ms':>9} {'direct ms':>9} {'ratio':>6}")
            for path, params, direct in cases:
                assert client.get(path, params=params).status_code == 200, path
                http = median_seconds(lambda path=path, params=params: client.get(path, params=params), args.repeat)
                ref = median_seconds(direct, args.repeat)
                label = path + ("?course=…" if "course" in params else "")
                print(f"{label:58} {http * 1000:9.1f} {ref * 1000:9.1f} {http / ref if ref else 0:6.2f}")
        finally:
            server.terminate()
            server.wait(timeout=30)
            store.close()


if __name__ == "__main__":
    main()
