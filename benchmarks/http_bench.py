"""End-to-end ingest rate: HTTP posts acknowledged per second vs the store's own bulk rate.

For each backend, in one run:

1. store-only: the same kind of rows (100-event Learn envelopes read and prepared beforehand,
   each row with a fresh event key) written with ``store.write`` in 1000-row transactions, no
   HTTP, into a fresh database;
2. HTTP: a ``caliper-stream serve`` subprocess on a loopback port and a fresh database, and
   ``--connections`` client threads posting 100-event Learn envelopes with fresh ids, each
   waiting for its answer (a 200 means committed). Reports acknowledged events/s, p50/p99
   request latency and the ratio to (1).

The load generator shares the machine with the server, so ratios matter more than absolute
figures. Bounded in time: ``--seconds`` per phase plus start-up.

    python benchmarks/http_bench.py [--seconds 10] [--connections 32] [--rounds 2]
        [--backends sqlite,postgresql] [--pg postgresql://127.0.0.1:5432/test] [--pg-workers 2]
        [--serve-args=--inbox-backlog=1GiB]

Diagnostic columns: CPU cores used by the server (with its children), the client and everything
else on the machine (PostgreSQL's own processes, or other jobs: the machine may be shared),
the writer thread's CPU µs per row next to store-only's, rows per transaction and the fraction
of time the writer spent in transactions.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from http.client import HTTPConnection, HTTPException
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import msgspec

from caliper_stream.ingest import Row, prepare
from caliper_stream.read import read_bytes
from caliper_stream.store import open_store
from learn_payloads import sample_events

SQLITE_TARGET = 0.85
PG_TARGET = 0.80
_ID = "00000000-0000-4000-8000-000000000000"


class Bodies:
    """100-event Learn envelopes with fresh ids, made by splicing uuids into a template (so
    generating load costs the client next to nothing)."""

    def __init__(self, size: int) -> None:
        events = sample_events()
        data = []
        for i in range(size):
            event = dict(events[i % len(events)])
            event["id"] = f"urn:uuid:{_ID}"
            data.append(event)
        self.template = msgspec.json.encode(
            {
                "sensor": "54b54b42-dd02-42f8-88ed-07bd719bfb7c",
                "sendTime": "2021-01-05T14:50:26.769Z",
                "dataVersion": "http://purl.imsglobal.org/ctx/caliper/v1p1",
                "data": data,
            }
        )
        marker = _ID.encode()
        self.offsets = []
        at = self.template.find(marker)
        while at >= 0:
            self.offsets.append(at)
            at = self.template.find(marker, at + 1)
        assert len(self.offsets) == size, "the placeholder id must occur once per event"
        cuts = [0, *(x for at in self.offsets for x in (at, at + 36)), len(self.template)]
        self.pieces = [self.template[a:b] for a, b in zip(cuts[::2], cuts[1::2], strict=True)]

    def make(self) -> bytes:
        """A body whose ids are one fresh uuid4 each with the event's index in the last four
        hex digits: unique across bodies and within one, at one random draw per body."""
        fresh = str(uuid.uuid4()).encode()[:32]
        parts = [self.pieces[0]]
        for i, piece in enumerate(self.pieces[1:]):
            parts += (fresh, b"%04x" % i, piece)
        return b"".join(parts)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def database(backend: str, pg: str, tmp: Path, tag: str) -> Iterator[str]:
    """A fresh database URL (SQLite file, or a PostgreSQL schema dropped afterwards)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp / f'{tag}.db'}"
        return
    import psycopg

    schema = f"cs_bench_{tag}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
        try:
            sep = "&" if "?" in pg else "?"
            yield f"{pg}{sep}options=-c%20search_path%3D{schema}"
        finally:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


def store_only(url: str, bodies: Bodies, seconds: float) -> tuple[float, float]:
    """Rows per second written by ``store.write`` in 1000-row transactions, and CPU µs per row."""
    pool: list[Row] = []
    while len(pool) < 20_000:
        pool += prepare(read_bytes(bodies.make()), source="bench").rows
    store = open_store(url)
    try:
        written, n = 0, 0
        cpu = time.process_time()
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            chunk = [msgspec.structs.replace(r, event_key=f"{n:08x}{r.event_key[8:]}") for r in pool[:1000]]
            pool = pool[1000:] + pool[:1000]
            n += 1
            store.write(chunk)  # keys rewritten above, outside of nothing: cheap next to a write
            written += len(chunk)
        elapsed = time.perf_counter() - started
        return written / elapsed, 1e6 * (time.process_time() - cpu) / written
    finally:
        store.close()


class Load(threading.Thread):
    """One keep-alive connection posting bodies back to back. The standard library's
    http.client costs ~0.2 ms of CPU per request where httpx cost ~1.5 ms (measured at
    0.13 client cores for 8k events/s): on a 2-core box the load generator's CPU is taken from
    the server under test, so the lighter client disturbs the measurement less."""

    def __init__(self, url: str, key: str, bodies: Bodies, stop: threading.Event, size: int) -> None:
        super().__init__(daemon=True)
        self.url, self.key, self.bodies, self.stop, self.size = url, key, bodies, stop, size
        self.latencies: list[float] = []
        self.statuses: Counter[int] = Counter()
        self.measuring = False

    def run(self) -> None:
        parts = urlsplit(self.url)
        headers = {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"}
        http = HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
        try:
            while not self.stop.is_set():
                body = self.bodies.make()
                t0 = time.perf_counter()
                try:
                    http.request("POST", "/caliper", body=body, headers=headers)
                    response = http.getresponse()
                    response.read()
                    status = response.status
                except (OSError, HTTPException):
                    http.close()  # reconnects on the next request
                    status = 0
                if self.measuring:
                    self.latencies.append(time.perf_counter() - t0)
                    self.statuses[status] += 1
        finally:
            http.close()


def http_rate(
    url: str, bodies: Bodies, seconds: float, connections: int, workers: int, tmp: Path, extra: list[str]
) -> dict[str, float]:
    """Acknowledged events/s and latency percentiles against a `serve` subprocess."""
    cli = [sys.executable, "-m", "caliper_stream"]
    open_store(url).close()
    key = subprocess.run([*cli, "keys", "add", "bench", "--db", url], capture_output=True, text=True, check=True).stdout.strip()
    port = free_port()
    log = (tmp / f"serve-{port}.log").open("wb")
    args = [*cli, "serve", "--db", url, "--port", str(port), "--workers", str(workers), "--inbox-backlog", "100000000",
            "--public-metrics", "--max-client-connections", "100000", *extra]
    proc = subprocess.Popen(args, stdout=log, stderr=log, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("server did not start; see " + log.name)
            time.sleep(0.05)
        stop = threading.Event()
        loads = [Load(base, key, bodies, stop, len(bodies.offsets)) for _ in range(connections)]
        for load in loads:
            load.start()
        time.sleep(min(2.0, seconds / 4))  # warm up: connections open, caches filled
        for load in loads:
            load.measuring = True
        started = time.perf_counter()
        cpu0 = cpu_seconds(proc.pid), time.process_time(), writer_cpu(proc.pid), machine_busy()
        commits0 = commit_stats(base)
        time.sleep(seconds)
        for load in loads:
            load.measuring = False
        elapsed = time.perf_counter() - started
        cpu1 = cpu_seconds(proc.pid), time.process_time(), writer_cpu(proc.pid), machine_busy()
        commits1 = commit_stats(base)
        stop.set()
        for load in loads:
            load.join(timeout=60)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
        log.close()
    statuses: Counter[int] = sum((load.statuses for load in loads), Counter())
    latencies = sorted(lat for load in loads for lat in load.latencies)
    ok = sum(n for status, n in statuses.items() if 200 <= status < 300)
    return {
        "events_per_s": ok * len(bodies.offsets) / elapsed,
        "p50_ms": 1000 * statistics.median(latencies) if latencies else float("nan"),
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))] if latencies else float("nan"),
        "requests": float(sum(statuses.values())),
        "failed": float(sum(n for status, n in statuses.items() if not 200 <= status < 300)),
        "server_cpu": (cpu1[0] - cpu0[0]) / elapsed,
        "client_cpu": (cpu1[1] - cpu0[1]) / elapsed,
        "commit_rows": (commits1[1] - commits0[1]) / max(1.0, commits1[0] - commits0[0]),
        "commit_busy": (commits1[2] - commits0[2]) / elapsed,
        "others": ((cpu1[3] - cpu0[3]) - (cpu1[0] - cpu0[0]) - (cpu1[1] - cpu0[1])) / elapsed,
        "writer_us": 1e6 * max((v - cpu0[2].get(t, 0.0) for t, v in cpu1[2].items()), default=0.0)
        / max(1, ok * len(bodies.offsets)),
    }


def writer_cpu(pid: int) -> dict[str, float]:
    """CPU seconds of each non-main thread of the server and its child processes (the busiest
    one is the writer: Python 3.11 does not name OS threads, so it is picked by its load)."""
    out: dict[str, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for proc in [pid, *children(pid)]:
        for task in Path(f"/proc/{proc}/task").glob("*"):
            if task.name == str(proc):
                continue
            try:
                fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            out[task.name] = (int(fields[11]) + int(fields[12])) / tick
    return out


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with suppress(OSError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def commit_stats(base: str) -> tuple[float, float, float]:
    """(transactions, rows, seconds in transactions) from the server's metrics (one worker)."""
    found = {"caliper_commit_rows_count": 0.0, "caliper_commit_rows_sum": 0.0, "caliper_commit_seconds_sum": 0.0}
    for line in httpx.get(base + "/metrics", timeout=10).text.splitlines():
        name, _, value = line.partition(" ")
        if name in found:
            found[name] = float(value)
    return found["caliper_commit_rows_count"], found["caliper_commit_rows_sum"], found["caliper_commit_seconds_sum"]


def machine_busy() -> float:
    """CPU seconds all processes of the machine have used (the machine may be shared)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """CPU time of a process and its children (Linux /proc), for the cores-used columns."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for p in [pid, *children(pid)]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per phase")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--events", type=int, default=100, help="events per envelope")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--pg", default=os.environ.get("CALIPER_STREAM_TEST_PG", "postgresql://127.0.0.1:5432/test"))
    parser.add_argument("--pg-workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2, help="alternate both phases; best of each is kept")
    parser.add_argument("--serve-args", default="", help="extra arguments for serve, e.g. '--parse-processes 0'")
    args = parser.parse_args()
    bodies = Bodies(args.events)
    print(f"{args.connections} connections, {args.events}-event envelopes, {args.seconds:g} s per phase, "
          f"{os.cpu_count()} CPUs")
    header = f"{'backend':<11} {'store-only ev/s':>16} {'HTTP ev/s':>10} {'ratio':>6} {'target':>7} {'p50 ms':>7} {'p99 ms':>7} {'requests':>9} {'failed':>7} {'server cores':>12} {'client cores':>12} {'other cores':>11} {'writer µs/row (store-only)':>27} {'rows/commit':>11} {'writer busy':>11}"
    print(header)
    with tempfile.TemporaryDirectory(prefix="caliper-bench-") as tmpdir:
        tmp = Path(tmpdir)
        for backend in args.backends.split(","):
            target = SQLITE_TARGET if backend == "sqlite" else PG_TARGET
            workers = 1 if backend == "sqlite" else args.pg_workers
            base, base_us, r = 0.0, 0.0, {"events_per_s": 0.0}
            for n in range(args.rounds):  # the machine may be shared: alternate, keep the best
                with database(backend, args.pg, tmp, f"store{n}") as url:
                    rate, us = store_only(url, bodies, args.seconds)
                    if rate > base:
                        base, base_us = rate, us
                with database(backend, args.pg, tmp, f"http{n}") as url:
                    run = http_rate(url, bodies, args.seconds, args.connections, workers, tmp, args.serve_args.split())
                if run["events_per_s"] > r["events_per_s"]:
                    r = run
            ratio = r["events_per_s"] / base
            verdict = "ok" if ratio >= target else "MISS"
            print(f"{backend:<11} {base:>16,.0f} {r['events_per_s']:>10,.0f} {ratio:>6.2f} {target:>5.2f} {verdict:<2}"
                  f" {r['p50_ms']:>6.1f} {r['p99_ms']:>7.1f} {r['requests']:>9,.0f} {r['failed']:>7,.0f}"
                  f" {r['server_cpu']:>12.2f} {r['client_cpu']:>12.2f} {r['others']:>11.2f} {r['writer_us']:>13.1f} ({base_us:.1f})"
                  f" {r['commit_rows']:>11.0f} {r['commit_busy']:>11.2f}")


if __name__ == "__main__":
    main()
