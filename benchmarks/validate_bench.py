"""``validate`` of a whole simulated dump against ``inspect`` of the same dump (the reference,
measured in the same run): wall time of the real commands and the lines they print.

    python benchmarks/validate_bench.py [--days 14] [--students 30]

A simulated term (``caliper-stream simulate --out``) is Learn-shaped, so lenient validation
finds a dozen tolerated deviations per event: the figure that matters is validate/inspect.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(*args: str) -> tuple[float, int]:
    """Seconds and output lines of ``python -m caliper_stream ARGS``."""
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "caliper_stream", *args], capture_output=True, check=False)
    return time.perf_counter() - t0, done.stdout.count(b"\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--students", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        dump = Path(tmp) / "dump.jsonl"
        subprocess.run([sys.executable, "-m", "caliper_stream", "simulate", "--days", str(args.days),
                        "--students", str(args.students), "--out", str(dump)], capture_output=True, check=True)
        events = sum(1 for _ in dump.open("rb"))
        inspect_s, _ = run("inspect", "--format", "jsonl", str(dump))
        validate_s, lines = run("validate", str(dump))
        every_s, every_lines = run("validate", "--all", str(dump))
    print(f"dump: {events:,} envelopes ({args.days} days, {args.students} students)")
    print(f"inspect --format jsonl: {inspect_s:6.2f} s (reference)")
    print(f"validate:               {validate_s:6.2f} s  {validate_s / inspect_s:4.1f}x inspect, {lines:,} lines")
    print(f"validate --all:         {every_s:6.2f} s  {every_s / inspect_s:4.1f}x inspect, {every_lines:,} lines")


if __name__ == "__main__":
    main()
