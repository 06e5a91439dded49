"""End-to-end import rate of a simulated term into a fresh store, against references measured
in the same run (the machine may be loaded: compare ratios, not raw rates).

    python benchmarks/import_bench.py --students 420           # ~1 GB term (minutes)
    python benchmarks/import_bench.py --courses 40 --students 4000 --days 60 --seed 7 \\
        --dir /work/scratch/import                             # the full 9.4 GB term
    python benchmarks/import_bench.py --input term.jsonl --db postgresql://127.0.0.1:5432/test

Steps: generate the term with ``caliper-stream simulate`` (or take ``--input``); the references
(``json.loads`` of every line; plain ``sqlite3`` executemany of the raw lines into a table with
one unique index, unless ``--no-sqlite-reference``); the import into a fresh SQLite file (or
``--db``), with its rate overall, per 10 % of the input and per 100k events, and the peak RSS
of the import's processes; the re-import of the same file (all duplicates). The import runs
`caliper_stream.store.load.import_paths` in a subprocess (what ``caliper-stream import`` runs),
so that its progress can be timed chunk by chunk.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

_RUN = """
import sys, time
from caliper_stream.store import open_store
from caliper_stream.store.load import import_paths
path, url, pipeline = sys.argv[1], sys.argv[2], {"auto": None, "on": True, "off": False}[sys.argv[3]]
start = time.perf_counter()
def progress(done, s):
    print(f"P {time.perf_counter() - start:.3f} {done} {s.events}", flush=True)
with open_store(url) as store:
    s = import_paths(store, [path], progress=progress, pipeline=pipeline)
r = s.result
print(f"R {time.perf_counter() - start:.3f} {s.bytes} {s.events} {r.accepted} {r.duplicates} {r.dead_letters}", flush=True)
"""


def uptime() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def _tree_rss(pid: int) -> int:
    """Resident bytes of `pid` and all its descendants (0 once it is gone)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as fh:
                total += next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:")) * 1024
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    todo.extend(int(c) for c in fh.read().split())
        except (OSError, StopIteration):
            continue
    return total


class Run:
    """One timed import: its progress records, result and peak RSS (sampled every 0.1 s)."""

    def __init__(self, dump: Path, url: str, pipeline: str) -> None:
        self.points: list[tuple[float, int, int]] = []
        self.peak_rss = 0
        proc = subprocess.Popen(
            [sys.executable, "-c", _RUN, str(dump), url, pipeline], stdout=subprocess.PIPE, text=True
        )
        sampler = threading.Thread(target=self._sample, args=(proc,), daemon=True)
        sampler.start()
        assert proc.stdout is not None
        result = ""
        for line in proc.stdout:
            kind, *fields = line.split()
            if kind == "P":
                self.points.append((float(fields[0]), int(fields[1]), int(fields[2])))
            elif kind == "R":
                result = line
        if proc.wait() != 0 or not result:
            sys.exit(f"import failed ({proc.returncode})")
        sampler.join()
        f = result.split()
        self.seconds, self.bytes, self.events = float(f[1]), int(f[2]), int(f[3])
        self.accepted, self.duplicates, self.dead_letters = int(f[4]), int(f[5]), int(f[6])

    def _sample(self, proc: subprocess.Popen[str]) -> None:
        while proc.poll() is None:
            self.peak_rss = max(self.peak_rss, _tree_rss(proc.pid))
            time.sleep(0.1)

    def line(self, name: str) -> str:
        return (
            f"{name}: {self.seconds:8.1f}s {self.bytes / 1e6 / self.seconds:7.1f} MB/s "
            f"{self.events / self.seconds:9,.0f} events/s  peak RSS {self.peak_rss / 1e6:,.0f} MB  "
            f"[accepted {self.accepted:,} duplicates {self.duplicates:,} dead letters {self.dead_letters:,}]"
        )

    def curve(self, *, by_events: int | None = None, size: int = 0) -> list[str]:
        """Rates per step: per `by_events` events, or per 10 % of `size` bytes."""
        out = []
        last = (0.0, 0, 0)
        step = 1
        for t, done, events in self.points:
            mark = events // by_events if by_events else done * 10 // max(size, 1)
            if mark >= step and t > last[0]:
                mb, ev = (done - last[1]) / 1e6, events - last[2]
                what = f"{events:>10,} events" if by_events else f"{done * 100 // max(size, 1):>3}%"
                out.append(f"  {what}: {mb / (t - last[0]):6.1f} MB/s {ev / (t - last[0]):8,.0f} events/s")
                last, step = (t, done, events), mark + 1
        return out


def reference_json(dump: Path) -> float:
    started = time.perf_counter()
    loads = json.loads
    with dump.open("rb") as fh:
        for line in fh:
            if line.strip():
                loads(line)
    return time.perf_counter() - started


def reference_sqlite(dump: Path, db: Path) -> float:
    """The raw lines into a table with one unique index, as the store commits: WAL, chunks."""
    started = time.perf_counter()
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("CREATE TABLE lines (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, raw BLOB NOT NULL)")
    batch: list[tuple[str, bytes]] = []

    def flush() -> None:
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO lines (key, raw) VALUES (?, ?) ON CONFLICT (key) DO NOTHING", batch)
        conn.execute("COMMIT")
        batch.clear()

    with dump.open("rb") as fh:
        for line in fh:
            batch.append((hashlib.blake2b(line, digest_size=16).hexdigest(), line))
            if len(batch) >= 2000:
                flush()
    flush()
    conn.close()
    return time.perf_counter() - started


def db_size(url: str, tmp: Path) -> int | None:
    if not url.startswith("sqlite"):
        return None
    return sum(p.stat().st_size for p in tmp.glob("bench.db*"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--courses", type=int, default=40)
    ap.add_argument("--students", type=int, default=420, help="420: ~1 GB; 4000: the 9.4 GB term")
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--input", type=Path, help="import this file instead of simulating a term")
    ap.add_argument("--db", help="database URL (default: a fresh SQLite file next to the dump)")
    ap.add_argument("--dir", help="where to generate (default: a temporary directory)")
    ap.add_argument("--pipeline", choices=("auto", "on", "off"), default="auto", help="import_paths' pipeline")
    ap.add_argument("--no-sqlite-reference", action="store_true", help="skip the plain sqlite3 reference")
    ap.add_argument("--no-reimport", action="store_true", help="skip the all-duplicates re-import")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(dir=args.dir) as tmpdir:
        tmp = Path(tmpdir)
        print(uptime(), flush=True)
        if args.input:
            dump = args.input
        else:
            dump = tmp / "term.jsonl"
            exe = shutil.which("caliper-stream")
            cmd = [exe] if exe else [sys.executable, "-m", "caliper_stream"]
            started = time.perf_counter()
            subprocess.run(
                [*cmd, "simulate", "--courses", str(args.courses), "--students", str(args.students),
                 "--days", str(args.days), "--seed", str(args.seed), "--out", str(dump)],
                check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            print(f"simulated in {time.perf_counter() - started:,.1f}s: {dump}", flush=True)
        size = dump.stat().st_size
        print(f"input {size / 1e6:,.0f} MB", flush=True)

        seconds = reference_json(dump)
        ref = size / 1e6 / seconds
        print(f"reference json.loads of every line: {seconds:8.1f}s {ref:7.1f} MB/s   ({uptime()})", flush=True)
        sql_ref = None
        if not args.no_sqlite_reference:
            seconds = reference_sqlite(dump, tmp / "reference.db")
            sql_ref = size / 1e6 / seconds
            for p in tmp.glob("reference.db*"):
                p.unlink()
            print(f"reference sqlite3 raw lines, 1 unique index: {seconds:8.1f}s {sql_ref:7.1f} MB/s   ({uptime()})",
                  flush=True)

        url = args.db or f"sqlite:///{tmp / 'bench.db'}"
        runs = [("import", Run(dump, url, args.pipeline))]
        first = runs[0][1]
        print(first.line("import   "), f"({uptime()})", flush=True)
        print("per 10 % of the input:", *first.curve(size=size), sep="\n", flush=True)
        print("per 100k events:", *first.curve(by_events=100_000), sep="\n", flush=True)
        stored = db_size(url, tmp)
        if not args.no_reimport:
            again = Run(dump, url, args.pipeline)
            runs.append(("re-import", again))
            print(again.line("re-import"), f"({uptime()})", flush=True)
        print("ratios to the references (higher is better):")
        for name, run in runs:
            rate = run.bytes / 1e6 / run.seconds
            print(f"  {name:9} / json.loads {rate / ref:5.2f}"
                  + (f"   / sqlite3 raw lines {rate / sql_ref:5.2f}" if sql_ref else ""))
        if stored is not None:
            print(f"database {stored / 1e6:,.0f} MB = {stored / size:.2f} × the JSON")
        print(uptime())


if __name__ == "__main__":
    main()
