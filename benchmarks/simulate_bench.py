"""Simulator speed: a generated term written to JSON Lines files (target: >= 50,000 events/s).

Measures, for one seeded term, the whole ``simulate --out`` path (generate, build, encode,
group into envelopes, write) to a plain file, to a directory and to a gzip file, and the
generation alone (build + encode, no file) as a reference. Best of ``--repeat`` runs, because
the machine is shared.

    python benchmarks/simulate_bench.py [--courses 10 --students 400 --days 21 --repeat 3]
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import msgspec

from caliper_stream.simulate import TermConfig, generate
from caliper_stream.simulate.files import write_term


def best(fn: Callable[[], int], repeat: int) -> tuple[int, float]:
    times, n = [], 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        n = fn()
        times.append(time.perf_counter() - t0)
    return n, min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--courses", type=int, default=10)
    parser.add_argument("--students", type=int, default=400)
    parser.add_argument("--days", type=int, default=21)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", default=None, help="Where to write (default: the temp dir; /dev/shm takes the disk out).")
    args = parser.parse_args()
    config = TermConfig(courses=args.courses, students=args.students, days=args.days, seed=1)
    encode = msgspec.json.Encoder().encode

    def generate_only() -> int:
        gc.disable()
        try:
            return sum(1 for p in generate(config) if encode(p.built.event))
        finally:
            gc.enable()

    results: dict[str, tuple[int, float, int]] = {}
    n, seconds = best(generate_only, args.repeat)
    results["generate + encode (no file)"] = (n, seconds, 0)
    for label, name in (("--out FILE.jsonl", "term.jsonl"), ("--out DIR", "dir"), ("--out FILE.jsonl.gz", "term.jsonl.gz")):
        times, size = [], 0
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory(dir=args.dir) as tmp:  # fresh, and freed after each run
                path = Path(tmp) / name
                t0 = time.perf_counter()
                n = write_term(generate(config), path, sensor_id="bench").events
                times.append(time.perf_counter() - t0)
                size = sum(f.stat().st_size for f in ([path] if path.is_file() else path.iterdir()))
        results[label] = (n, min(times), size)
    print(f"term: {args.courses} courses, {args.students} students, {args.days} days; files in {args.dir or tempfile.gettempdir()}")
    for label, (n, seconds, size) in results.items():
        extra = f", {size / 1e6:,.0f} MB" if size else ""
        print(f"  {label:28s} {n:>9,} events in {seconds:6.2f} s = {n / seconds:>8,.0f} events/s{extra}")


if __name__ == "__main__":
    main()
