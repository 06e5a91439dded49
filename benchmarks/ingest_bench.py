"""HTTP ingest of `caliper-stream serve` against a bare-bones reference store, in one run.

For each payload and connection count (a *cell*), on a fresh database each time:

* ``ref-sqlite`` / ``ref-pg``: ``benchmarks/reference_store.py`` (raw ASGI on granian, ids-only
  decode, one ``executemany`` per request), the yardstick;
* ``serve-sqlite`` / ``serve-pg``: ``caliper-stream serve`` as shipped (``--serve-args`` adds
  options); with ``--replicas N`` also ``serve-pg xN``: N ``serve`` processes on N ports against
  one PostgreSQL schema, one wrk process per replica sharing the connections.

Payloads: ``learn`` = 100 copies of Learn's AssessmentItemEvent sample (the second event of
``v1p1/assessment-events-2.json``, 4,986 B); ``sim`` = 100-event envelopes of the simulator's
mix (``caliper-stream simulate``). Every event gets a fresh id on every request
(``benchmarks/wrk/post_fresh_ids.lua``), so nothing deduplicates.

Load: ``wrk -t2 --latency`` for ``--seconds``. Columns:

* acked ev/s: 2xx answers x events per body / wrk's duration;
* digested ev/s: rows in ``events`` once the backlog has drained (polled until the count stops
  growing), divided by the time from starting wrk to the moment the count reached its final
  value. A server that acknowledges before storing (an inbox) cannot hide a slow digest here;
* ratio: acked rate over the reference's acked rate in the same cell and backend; dig. ratio:
  digested rate over the reference's digested rate;
* server cores: CPU seconds of the server's process tree (children included) per second of load;
  client cores: the same for wrk (if it nears 2, the client is the bottleneck); other cores:
  the rest of the machine, i.e. PostgreSQL's backends plus whatever else runs (it may be shared);
* server µs/ev: server CPU (children included) from the start of the load until the backlog has
  drained, per stored event: what storing an event costs, which a shared machine's load disturbs
  less than rates; pg µs/ev: the same for the PostgreSQL backends serving the cell (found by
  ``application_name``; PostgreSQL must run on this machine, else 0);
* load: the 1-minute load average at the end of the cell (the machine may be shared);
* target: ok when serve's acked and digested ratios reach 1.2 (SQLite) or 1.0 (PostgreSQL) and,
  at 8 connections, its p99 is under 250 ms; MISS otherwise;
* statuses: serve's answers to the POSTs by status, from its access log.

``--profile`` re-runs serve-sqlite/learn/8 (not counted in the table) under
``py-spy record --nonblocking --format raw`` for the HTTP process and each child, and prints
the top frames (self and inclusive) of each. Profiles are kept in ``--profile-dir``.

    python benchmarks/ingest_bench.py [--seconds 10] [--pg postgresql://127.0.0.1:5432/test]
        [--no-pg] [--replicas 2] [--payloads learn,sim] [--connections 8,32] [--profile]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from learn_payloads import LEARN

HERE = Path(__file__).resolve().parent
LUA = HERE / "wrk" / "post_fresh_ids.lua"
PLACEHOLDER = "00000000-0000-4000-8000-000000000000"
EVENTS_PER_BODY = 100
SPY_RATE = 100  # samples per second and thread
#: py-spy from PATH, else the one installed next to this interpreter (a virtualenv's bin).
PY_SPY = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
TICK = os.sysconf("SC_CLK_TCK")
# Targets for serve, against the reference of the same cell: acknowledged and digested rates at
# least this ratio, and p99 under P99_TARGET_MS at 8 connections.
TARGETS = {"sqlite": 1.2, "pg": 1.0}
P99_TARGET_MS, P99_TARGET_CONNECTIONS = 250.0, 8


# ---------------------------------------------------------------- payloads


def learn_templates() -> list[str]:
    """100 copies of the AssessmentItemEvent sample in Learn's envelope, as Learn's sample
    file spells it (``json.dumps`` separators: the event is 4,986 bytes)."""
    envelope = json.loads((LEARN / "assessment-events-2.json").read_text())
    event = envelope["data"][1]
    assert event["type"] == "AssessmentItemEvent"
    envelope["data"] = [dict(event, id=PLACEHOLDER) for _ in range(EVENTS_PER_BODY)]
    return [json.dumps(envelope)]


def sim_templates(tmp: Path, bodies: int = 20) -> list[str]:
    """`bodies` 100-event envelopes of a simulated term's events, in the order simulated."""
    out = tmp / "sim.jsonl"
    subprocess.run([sys.executable, "-m", "caliper_stream", "simulate", "--courses", "6", "--students", "120",
                    "--days", "14", "--seed", "11", "--out", str(out)], check=True, capture_output=True)
    lines = out.read_text().splitlines()
    first = json.loads(lines[0])
    events = [event for line in lines for event in json.loads(line)["data"]]
    needed = bodies * EVENTS_PER_BODY
    assert len(events) >= needed, f"the simulated term has only {len(events)} events"
    templates = []
    for b in range(bodies):
        data = [dict(event, id=PLACEHOLDER) for event in events[b * EVENTS_PER_BODY:(b + 1) * EVENTS_PER_BODY]]
        templates.append(json.dumps({**first, "data": data}, separators=(",", ":")))
    return templates


# ---------------------------------------------------------------- processes and /proc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it (Linux /proc)."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            with suppress(OSError):
                todo += [int(c) for c in (task / "children").read_text().split()]
    return found


def tree_cpu(pids: list[int]) -> dict[int, float]:
    """CPU seconds of each process of the trees rooted at `pids`."""
    out = {}
    for root in pids:
        for p in descendants(root):
            with suppress(OSError):
                fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
                out[p] = (int(fields[11]) + int(fields[12])) / TICK
    return out


def machine_busy() -> float:
    """CPU seconds every process of the machine has used (PostgreSQL's backends, other jobs)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / TICK


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(v - before.get(p, 0.0) for p, v in after.items())


@dataclass
class Server:
    """Started server processes (one per replica) and how to reach and count them."""

    procs: list[subprocess.Popen[bytes]]
    ports: list[int]
    key: str
    db: Database
    logs: list[Path] = field(default_factory=list)

    def stop(self) -> None:
        for proc in self.procs:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def wait_ready(proc: subprocess.Popen[bytes], port: int, log: Path, path: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        with suppress(httpx.TransportError):
            if httpx.get(f"http://127.0.0.1:{port}{path}", timeout=1).status_code == 200:
                return
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError(f"server on port {port} did not start; see {log}")
        time.sleep(0.1)


def spawn(args: list[str], log: Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, cwd=cwd, start_new_session=True,
                                env=env)


# ---------------------------------------------------------------- databases


@dataclass
class Database:
    backend: str  # "sqlite" or "pg"
    url: str  # what serve gets (--db)
    path: Path | None = None  # SQLite file
    schema: str | None = None  # PostgreSQL schema
    pg: str = ""
    tagged: str = ""  # the PostgreSQL URL with the schema as application_name

    def backends(self) -> dict[int, float]:
        """CPU seconds of each PostgreSQL backend serving this database (PostgreSQL on this
        machine: its processes are read in /proc), so the database's work per event shows."""
        if self.path is not None:
            return {}
        import psycopg

        with psycopg.connect(self.pg, autocommit=True) as db:
            pids = [int(r[0]) for r in db.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (self.schema,))]
        return tree_cpu(pids)

    def count(self) -> int:
        if self.path is not None:
            with sqlite3.connect(self.path, timeout=30) as db:
                return int(db.execute("SELECT count(*) FROM events").fetchone()[0])
        import psycopg

        with psycopg.connect(self.pg, autocommit=True) as db:
            row = db.execute(f'SELECT count(*) FROM "{self.schema}".events').fetchone()
            return int(row[0]) if row else 0


@contextmanager
def fresh_database(backend: str, pg: str, tmp: Path, tag: str) -> Iterator[Database]:
    """A fresh SQLite file or PostgreSQL schema, removed afterwards (they grow by GBs)."""
    if backend == "sqlite":
        path = tmp / f"{tag}.db"
        try:
            yield Database("sqlite", f"sqlite:///{path}", path=path)
        finally:
            for leftover in tmp.glob(f"{tag}.db*"):
                leftover.unlink()
        return
    import psycopg

    schema = f"cs_ingest_{tag}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        sep = "&" if "?" in pg else "?"
        tagged = f"{pg}{sep}application_name={schema}"  # finds the backends serving this cell
        yield Database("pg", f"{tagged}&options=-c%20search_path%3D{schema}", schema=schema, pg=pg, tagged=tagged)
    finally:
        with psycopg.connect(pg, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


def start_reference(db: Database, tmp: Path) -> Server:
    port = free_port()
    log = tmp / f"reference-{port}.log"
    where = ["--db", str(db.path)] if db.path is not None else ["--pg", db.tagged, "--schema", str(db.schema)]
    proc = spawn([sys.executable, str(HERE / "reference_store.py"), "--port", str(port), *where], log, tmp)
    server = Server([proc], [port], "none", db, [log])
    try:
        wait_ready(proc, port, log, "/healthz")
    except BaseException:
        server.stop()
        raise
    return server


def start_serve(db: Database, tmp: Path, replicas: int, workers: int, extra: list[str]) -> Server:
    cli = [sys.executable, "-m", "caliper_stream"]
    key = subprocess.run([*cli, "keys", "add", "bench", "--db", db.url], capture_output=True, text=True,
                         check=True, cwd=tmp).stdout.strip()
    server = Server([], [], key, db)
    try:
        for _ in range(replicas):
            port = free_port()
            log = tmp / f"serve-{port}.log"
            server.logs.append(log)
            server.ports.append(port)
            server.procs.append(spawn([*cli, "serve", "--db", db.url, "--port", str(port), "--workers", str(workers),
                                       "--public-metrics", *extra], log, tmp))
        for proc, port, log in zip(server.procs, server.ports, server.logs, strict=True):
            wait_ready(proc, port, log, "/readyz")
    except BaseException:
        server.stop()
        raise
    return server


# ---------------------------------------------------------------- load


@dataclass
class Result:
    system: str
    payload: str
    connections: int
    acked: float = 0.0
    digested: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    requests: int = 0
    errors: int = 0
    stored: int = 0
    server_cores: float = 0.0
    server_us: float = 0.0
    db_us: float | None = None
    client_cores: float = 0.0
    other_cores: float = 0.0
    drain_s: float = 0.0
    load: float = 0.0
    statuses: Counter[int] = field(default_factory=Counter)
    ratio: float | None = None
    digested_ratio: float | None = None


def run_wrk(server: Server, templates: Path, connections: int, seconds: float,
            during: Callable[[float], None] | None = None) -> tuple[list[dict[str, Any]], float, float, float]:
    """Run one wrk per replica; returns their results, client cores, server cores and the
    perf_counter time wrk started at."""
    per = max(1, connections // len(server.ports))
    with ExitStack() as stack:
        procs, outs = [], []
        before = tree_cpu([p.pid for p in server.procs])
        busy = machine_busy()
        started = time.perf_counter()
        for port in server.ports:
            out = stack.enter_context(tempfile.TemporaryFile())
            salt = f"{random.getrandbits(32):08x}"
            procs.append(subprocess.Popen(
                ["wrk", "-t2", f"-c{per}", f"-d{seconds:g}s", "--latency", "--timeout", "60s", "-s", str(LUA),
                 f"http://127.0.0.1:{port}/caliper", "--", str(templates), server.key, salt],
                stdout=out, stderr=subprocess.STDOUT))
            outs.append(out)
        if during is not None:
            during(seconds)
        client = 0.0
        after: dict[int, float] = {}
        for proc in procs:  # wait4: the rusage of wrk alone
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            if not after:  # the server's CPU up to the end of the first wrk
                after = tree_cpu([p.pid for p in server.procs])
                busy = machine_busy() - busy
            client += usage.ru_utime + usage.ru_stime
        elapsed = time.perf_counter() - started
        results = []
        for proc, out in zip(procs, outs, strict=True):
            out.seek(0)
            text = out.read().decode(errors="replace")
            line = next((x for x in text.splitlines() if x.startswith("WRK_RESULT ")), None)
            if proc.returncode != 0 or line is None:
                raise RuntimeError(f"wrk failed ({proc.returncode}):\n{text}")
            results.append(json.loads(line.removeprefix("WRK_RESULT ")))
    cores = cpu_delta(before, after) / elapsed
    return results, client / elapsed, cores, busy / elapsed - cores - client / elapsed, started


def drain(count: Callable[[], int], started: float, limit: float = 180.0) -> tuple[int, float]:
    """Wait until the stored count stops growing (2 s unchanged); return it and the seconds
    from `started` to the start of the first query that saw it."""
    seen_at = time.perf_counter()  # a count holds at least what was stored when it began
    last = count()
    stable_since = time.perf_counter()
    deadline = stable_since + limit
    while time.perf_counter() - stable_since < 2.0 and time.perf_counter() < deadline:
        time.sleep(0.2)
        asked = time.perf_counter()
        now = count()
        if now != last:
            last, seen_at, stable_since = now, asked, time.perf_counter()
    return last, seen_at - started


def measure(system: str, payload: str, connections: int, server: Server, templates: Path,
            seconds: float) -> Result:
    pids = [p.pid for p in server.procs]
    cpu_before, db_before = tree_cpu(pids), server.db.backends()
    results, client, cores, others, started = run_wrk(server, templates, connections, seconds)
    wrk_end = time.perf_counter()
    stored, until = drain(server.db.count, started)
    cpu_total = cpu_delta(cpu_before, tree_cpu(pids))  # the digest after wrk stopped included
    db_total = cpu_delta(db_before, server.db.backends())
    requests = sum(r["requests"] for r in results)
    errors = sum(r["non2xx"] + r["connect"] + r["read"] + r["write"] + r["timeout"] for r in results)
    duration = max(r["duration_us"] for r in results) / 1e6
    ok = requests - sum(r["non2xx"] for r in results)
    # latency percentiles: the worst replica's (one replica: wrk's own)
    return Result(
        system, payload, connections,
        acked=ok * EVENTS_PER_BODY / duration,
        digested=stored / max(until, 1e-9),
        p50_ms=max(r["p50_us"] for r in results) / 1000,
        p99_ms=max(r["p99_us"] for r in results) / 1000,
        requests=requests, errors=errors, stored=stored,
        server_cores=cores, server_us=1e6 * cpu_total / max(stored, 1), client_cores=client, other_cores=others,
        db_us=1e6 * db_total / max(stored, 1) if server.db.path is None else None,
        drain_s=max(0.0, started + until - wrk_end),
        load=os.getloadavg()[0],
    )


# ---------------------------------------------------------------- profile


def profile(server: Server, templates: Path, connections: int, seconds: float, out_dir: Path) -> None:
    """py-spy every process of the server while wrk loads it; print the top frames.

    Samples are of threads that are not idle (``--nonblocking`` does not pause the target, so
    the measured process runs at full speed); a thread waiting for the GIL counts as busy."""
    out_dir.mkdir(parents=True, exist_ok=True)
    spies: list[tuple[str, subprocess.Popen[bytes], Path]] = []
    spy_seconds = max(1, int(seconds - 2))

    def during(total: float) -> None:
        time.sleep(1.0)  # past start-up
        pids = descendants(server.procs[0].pid)
        for n, pid in enumerate(pids):
            comm = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:120]
            name = "http" if n == 0 else f"child{n}"
            path = out_dir / f"serve-{name}-{pid}.txt"
            spy = subprocess.Popen([PY_SPY, "record", "--nonblocking", "--format", "raw", "-r", str(SPY_RATE),
                                    "-d", str(spy_seconds), "-o", str(path), "--pid", str(pid)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            spies.append((f"{name} (pid {pid}: {comm})", spy, path))

    run_wrk(server, templates, connections, seconds, during)
    for label, spy, path in spies:
        spy.wait(timeout=60)
        if not path.exists():
            print(f"\n{label}: no samples (py-spy could not attach or the process is not Python)")
            continue
        print_top(label, path, SPY_RATE, spy_seconds)


PLUMBING = tuple(f"{m})" for m in ("threading.py", "futures/thread.py", "asyncio/runners.py",
                                   "asyncio/base_events.py", "typer/main.py", "typer/core.py",
                                   "_click/core.py", "click/core.py", "cli/__init__.py", "contextlib.py"))


def print_top(label: str, path: Path, rate: int, seconds: int, top: int = 15) -> None:
    """Aggregate py-spy's collapsed stacks: self time by function, and inclusive time."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        count = int(n)
        total += count
        frames = [frame_name(f) for f in stack.split(";")]
        own[frames[-1]] += count
        for f in set(frames):
            if not f.endswith(PLUMBING) and not f.startswith("<module>"):
                inclusive[f] += count
    print(f"\n{label}: {total} samples at {rate} Hz over {seconds} s, {total / (rate * seconds):.2f} threads "
          f"busy on average ({path})")
    print("  self %   function")
    for name, n in own.most_common(top):
        print(f"  {100 * n / max(total, 1):5.1f}   {name}")
    print("  incl %   function")
    for name, n in inclusive.most_common(top):
        print(f"  {100 * n / max(total, 1):5.1f}   {name}")


def frame_name(frame: str) -> str:
    """``fn (path/file.py:123)`` → ``fn (file.py)``: lines of one function add up."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    short = "/".join(where.split("/")[-2:]) if where else ""
    return f"{name} ({short})" if short else name


# ---------------------------------------------------------------- main


def pg_reachable(pg: str) -> bool:
    try:
        import psycopg

        with psycopg.connect(pg, connect_timeout=3):
            return True
    except Exception:
        return False


def logged_statuses(logs: list[Path]) -> Counter[int]:
    """Answers to POSTs by status, from serve's access log (one JSON line per request)."""
    found: Counter[int] = Counter()
    for log in logs:
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                with suppress(ValueError):
                    entry = json.loads(line)
                    if entry.get("method") == "POST" and isinstance(entry.get("status"), int):
                        found[entry["status"]] += 1
    return found


def print_header() -> None:
    print(f"{'system':<14} {'payload':<7} {'conns':>5} {'acked ev/s':>10} {'digested ev/s':>13} {'p50 ms':>7} "
          f"{'p99 ms':>7} {'ratio':>6} {'dig. ratio':>10} {'requests':>8} {'errors':>6} {'drain s':>7} "
          f"{'server cores':>12} {'server µs/ev':>12} {'pg µs/ev':>8} {'client cores':>12} {'other cores':>11} {'load':>5} {'target':>6}  "
          "statuses")


def print_row(r: Result) -> None:
    ratio = f"{r.ratio:.2f}" if r.ratio is not None else "1.00"
    dratio = f"{r.digested_ratio:.2f}" if r.digested_ratio is not None else "-"
    statuses = " ".join(f"{n}x{status}" for status, n in sorted(r.statuses.items()))
    pg_us = f"{r.db_us:.0f}" if r.db_us is not None else "-"
    verdict = ""
    if r.ratio is not None:
        target = TARGETS["sqlite" if "sqlite" in r.system else "pg"]
        met = r.ratio >= target and (r.digested_ratio or 0.0) >= target
        met = met and (r.connections != P99_TARGET_CONNECTIONS or r.p99_ms < P99_TARGET_MS)
        verdict = "ok" if met else "MISS"
    print(f"{r.system:<14} {r.payload:<7} {r.connections:>5} {r.acked:>10,.0f} {r.digested:>13,.0f} "
          f"{r.p50_ms:>7.0f} {r.p99_ms:>7.0f} {ratio:>6} {dratio:>10} {r.requests:>8,} {r.errors:>6,} "
          f"{r.drain_s:>7.1f} {r.server_cores:>12.2f} {r.server_us:>12.0f} {pg_us:>8} "
          f"{r.client_cores:>12.2f} {r.other_cores:>11.2f} {r.load:>5.1f} {verdict:>6}  {statuses}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="wrk duration per cell")
    parser.add_argument("--payloads", default="learn,sim")
    parser.add_argument("--connections", default="8,32")
    parser.add_argument("--pg", default=os.environ.get("CALIPER_STREAM_TEST_PG", "postgresql://127.0.0.1:5432/test"))
    parser.add_argument("--no-pg", action="store_true", help="SQLite only")
    parser.add_argument("--pg-workers", type=int, default=1, help="serve --workers on PostgreSQL (per replica)")
    parser.add_argument("--replicas", type=int, default=1, help="also run N serve replicas on one PG schema")
    parser.add_argument("--serve-args", default="", help="extra serve options, e.g. '--overload-events 1000000'")
    parser.add_argument("--profile", action="store_true", help="profile serve-sqlite/learn/8 (an extra run)")
    parser.add_argument("--profile-dir", type=Path, default=Path("ingest-profile"))
    parser.add_argument("--scratch", type=Path, default=None, help="directory for databases (default: a temp dir)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not on PATH")
    backends = ["sqlite"]
    if not args.no_pg:
        if not pg_reachable(args.pg):
            sys.exit(f"PostgreSQL unreachable at {args.pg} (use --no-pg)")
        backends.append("pg")
    extra = args.serve_args.split()
    with tempfile.TemporaryDirectory(prefix="caliper-ingest-", dir=args.scratch) as tmpdir:
        tmp = Path(tmpdir)
        payloads = {}
        for name in args.payloads.split(","):
            templates = learn_templates() if name == "learn" else sim_templates(tmp)
            path = tmp / f"{name}.templates"
            path.write_text("\n".join(templates) + "\n")
            mean = sum(len(t.encode()) for t in templates) / len(templates)
            payloads[name] = path
            print(f"payload {name}: {len(templates)} template bodies of {EVENTS_PER_BODY} events, "
                  f"{mean:,.0f} B per body")
        print(f"{args.seconds:g} s per cell, wrk -t2, {os.cpu_count()} CPUs, load average at start "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; serve args: {extra or 'defaults'}")
        print_header()
        for payload, templates in payloads.items():
            for connections in (int(c) for c in args.connections.split(",")):
                for backend in backends:
                    cells: list[tuple[str, int]] = [("ref", 1), ("serve", 1)]
                    if backend == "pg" and args.replicas > 1:
                        cells.append(("serve", args.replicas))
                    reference = None
                    for kind, replicas in cells:
                        system = f"{kind}-{backend}" + (f" x{replicas}" if replicas > 1 else "")
                        tag = f"{kind}{replicas}_{payload}_{connections}"
                        with fresh_database(backend, args.pg, tmp, tag) as db:
                            if kind == "ref":
                                server = start_reference(db, tmp)
                            else:
                                workers = args.pg_workers if backend == "pg" else 1
                                server = start_serve(db, tmp, replicas, workers, extra)
                            try:
                                result = measure(system, payload, connections, server, templates, args.seconds)
                            finally:
                                server.stop()
                            result.statuses = logged_statuses(server.logs) if kind == "serve" else Counter()
                        if reference is None:
                            reference = result
                        else:
                            result.ratio = result.acked / reference.acked
                            result.digested_ratio = result.digested / reference.digested
                        print_row(result)
        if args.profile and "learn" in payloads:
            with fresh_database("sqlite", args.pg, tmp, "profile") as db:
                server = start_serve(db, tmp, 1, 1, extra)
                try:
                    print(f"\nprofile: serve-sqlite/learn/8, {args.seconds:g} s (an extra run, not in the table), "
                          f"load average {os.getloadavg()[0]:.2f}")
                    profile(server, payloads["learn"], 8, args.seconds, args.profile_dir.resolve())
                finally:
                    server.stop()


if __name__ == "__main__":
    main()
