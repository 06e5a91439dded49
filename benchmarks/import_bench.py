"""End-to-end ``caliper-stream import`` rate into SQLite on a generated JSON Lines dump.

    python benchmarks/import_bench.py                # 1 GB dump (takes minutes)
    python benchmarks/import_bench.py --size 100MB
    python benchmarks/import_bench.py --size 1GB --gzip --db postgresql://127.0.0.1:5432/test

The dump (Learn's sample events with fresh ids, one per line) is generated in a temporary
directory first; only the ``caliper-stream import`` subprocess is timed. A second import of the
same dump is timed too: it must store nothing (all duplicates).
"""

from __future__ import annotations

import argparse
import gzip
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from learn_events import write_jsonl

_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9}


def parse_size(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMG]?B?)\s*", text.upper())
    if not m:
        raise argparse.ArgumentTypeError(f"bad size {text!r}: use e.g. 100MB or 1GB")
    return int(float(m.group(1)) * _UNITS[m.group(2)])


def timed_import(dump: Path, db: str) -> tuple[float, str]:
    exe = shutil.which("caliper-stream")
    cmd = [exe] if exe else [sys.executable, "-m", "caliper_stream"]
    started = time.perf_counter()
    proc = subprocess.run([*cmd, "import", str(dump), "--db", db, "-q"], capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"import failed ({proc.returncode}): {proc.stderr.strip()}")
    return seconds, proc.stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=parse_size, default=parse_size("1GB"), help="dump size (default 1GB)")
    ap.add_argument("--gzip", action="store_true", help="gzip the dump (the import reads it compressed)")
    ap.add_argument("--db", help="database URL (default: a SQLite file next to the dump)")
    ap.add_argument("--dir", help="where to generate (default: a temporary directory)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        dump = Path(tmp) / "dump.jsonl"
        started = time.perf_counter()
        n = write_jsonl(dump, args.size)
        size = dump.stat().st_size
        if args.gzip:
            with dump.open("rb") as src, gzip.open(f"{dump}.gz", "wb", compresslevel=1) as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            dump.unlink()
            dump = Path(f"{dump}.gz")
        print(f"generated {n:,} events, {size / 1e6:,.0f} MB in {time.perf_counter() - started:,.1f}s: {dump}", flush=True)
        db = args.db or f"sqlite:///{Path(tmp) / 'bench.db'}"

        seconds, summary = timed_import(dump, db)
        print(f"import:    {seconds:7.1f}s  {size / 1e6 / seconds:7.1f} MB/s  {n / seconds:9,.0f} events/s  [{summary}]")
        seconds, summary = timed_import(dump, db)
        print(f"re-import: {seconds:7.1f}s  {size / 1e6 / seconds:7.1f} MB/s  {n / seconds:9,.0f} events/s  [{summary}]")
        if db.startswith("sqlite"):
            print(f"database size {sum(p.stat().st_size for p in Path(tmp).glob('bench.db*')) / 1e6:,.0f} MB")


if __name__ == "__main__":
    main()
