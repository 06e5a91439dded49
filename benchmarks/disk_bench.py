"""Disk use of a simulated term, and what compressing raw bytes costs the write path.

    python benchmarks/disk_bench.py                        # the issue's term (~118k events)
    python benchmarks/disk_bench.py --students 100 --days 7 --no-pg
    python benchmarks/disk_bench.py --pg postgresql://127.0.0.1:5432/test

Simulates a term (``caliper-stream simulate``), reads and prepares it once (as ``import``
does), then writes the same rows in transactions of ``import``'s chunk (50,000 rows) into stores
with and without compression: SQLite files, and PostgreSQL throw-away schemas. For each it
prints the JSON bytes, the database bytes and their ratio, the write rate (store-only: the
rows are prepared before timing) and the breakdown by table and index (SQLite ``dbstat``;
PostgreSQL heap, TOAST and indexes), after the analytics summaries are built (timed), and on
PostgreSQL the size again after ``db reindex``. Then compress and decompress rates of one core with the
store's dictionary, and zstd without a dictionary for reference. Figures from one run compare
with each other only: the machine may be shared (the load average is printed).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import zstandard

from caliper_stream.analyse.summary import TABLES as SUMMARY_TABLES
from caliper_stream.analyse.summary import refresh
from caliper_stream.ingest import Row, prepare
from caliper_stream.read import read_path
from caliper_stream.store import open_store
from caliper_stream.store.codec import LEVEL
from caliper_stream.store.common import SQLStore
from caliper_stream.store.load import CHUNK


def load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def simulate(args: argparse.Namespace, work: Path) -> Path:
    out = work / "term.jsonl"
    subprocess.run(
        [sys.executable, "-m", "caliper_stream", "simulate", "--courses", str(args.courses), "--students",
         str(args.students), "--days", str(args.days), "--seed", str(args.seed), "--out", str(out)],
        check=True, capture_output=True,
    )
    return out


def unique(rows: list[Row]) -> list[Row]:
    seen: set[str] = set()
    out = []
    for r in rows:
        if r.event_key not in seen:
            seen.add(r.event_key)
            out.append(r)
    return out


def write_all(store: SQLStore, rows: list[Row]) -> float:
    """Events per second writing `rows` in `CHUNK`-row transactions."""
    started = time.perf_counter()
    for i in range(0, len(rows), CHUNK):
        store.write(rows[i : i + CHUNK])
    return len(rows) / (time.perf_counter() - started)


def sqlite_breakdown(path: Path) -> list[tuple[str, int]]:
    conn = sqlite3.connect(path)
    try:
        return [(str(n), int(s)) for n, s in conn.execute(
            "SELECT name, sum(pgsize) AS s FROM dbstat GROUP BY name ORDER BY s DESC"
        )]
    finally:
        conn.close()


def pg_breakdown(url: str, schema: str) -> list[tuple[str, int]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT c.relname, pg_relation_size(c.oid), coalesce(pg_total_relation_size(nullif(c.reltoastrelid, 0)), 0)"
            " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relkind IN ('r', 'i', 'p') ORDER BY 2 DESC",
            (schema,),
        ).fetchall()
    out: list[tuple[str, int]] = []
    for name, size, toast in rows:
        out.append((name, int(size)))
        if toast:
            out.append((f"{name} (TOAST)", int(toast)))
    return sorted(out, key=lambda x: -x[1])


def built(store: SQLStore) -> float:
    """Seconds to build the analytics summaries (`refresh`), which are part of the database."""
    started = time.perf_counter()
    refresh(store)
    return time.perf_counter() - started


def report(label: str, json_bytes: int, db_bytes: int, rate: float, parts: list[tuple[str, int]], top: int,
           summaries: float) -> None:
    print(f"\n{label}: {db_bytes / 1e6:,.1f} MB = {db_bytes / json_bytes:.3f} × the JSON; writes {rate:,.0f} events/s;"
          f" summaries built in {summaries:.1f} s")
    for name, size in parts[:top]:
        if size:
            print(f"    {name:42s} {size / 1e6:9.2f} MB  {size / db_bytes:6.1%}")


def sqlite_run(label: str, work: Path, rows: list[Row], json_bytes: int, top: int, **options: Any) -> tuple[float, SQLStore]:
    path = work / f"{label.replace(' ', '_')}.db"
    for old in work.glob(path.name + "*"):  # a previous run's: its rows would all be duplicates
        old.unlink()
    store = open_store(f"sqlite:///{path}", **options)
    assert isinstance(store, SQLStore)
    rate = write_all(store, rows)
    summaries = built(store)
    store.checkpoint()
    size = path.stat().st_size + sum(p.stat().st_size for p in work.glob(path.name + "-*"))
    report(f"SQLite, {label}", json_bytes, size, rate, sqlite_breakdown(path), top, summaries)
    return rate, store


def pg_run(label: str, base: str, rows: list[Row], json_bytes: int, top: int, *, extended: bool = False,
           **options: Any) -> float:
    schema = f"disk_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    url = f"{base}{'&' if '?' in base else '?'}options={quote(f'-c search_path={schema}')}"
    try:
        store = open_store(url, **options)
        assert isinstance(store, SQLStore)
        if extended:  # as before migration 0009: pglz may compress raw
            store.transact(lambda tx: tx.execute("ALTER TABLE events ALTER COLUMN raw SET STORAGE EXTENDED"))
        rate = write_all(store, rows)
        summaries = built(store)
        store.close()
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"VACUUM ANALYZE {schema}.events")
        parts = pg_breakdown(base, schema)
        report(f"PostgreSQL, {label}", json_bytes, sum(s for _, s in parts), rate, parts, top, summaries)
        with open_store(url) as store:  # what `caliper-stream db reindex` leaves
            started = time.perf_counter()
            store.reindex(["events", "event_keys", *SUMMARY_TABLES])
            took = time.perf_counter() - started
        parts = pg_breakdown(base, schema)
        size = sum(s for _, s in parts)
        print(f"  after db reindex ({took:.1f} s): {size / 1e6:,.1f} MB = {size / json_bytes:.3f} × the JSON")
        return rate
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def codec_rates(store: SQLStore, rows: list[Row]) -> None:
    """One core: compress and decompress with the store's newest dictionary, and without one."""
    sample = [r.raw for r in rows[-50_000:]]
    raw = sum(map(len, sample))
    newest = store.query("SELECT id, dictionary FROM dictionaries ORDER BY id DESC LIMIT 1")
    zdict = zstandard.ZstdCompressionDict(bytes(newest[0][1]))
    for label, kwargs in (("dictionary", {"dict_data": zdict}), ("no dictionary", {})):
        cctx = zstandard.ZstdCompressor(level=LEVEL, write_checksum=False, write_dict_id=False, **kwargs)
        t0 = time.perf_counter()
        blobs = [cctx.compress(s) for s in sample]
        tc = time.perf_counter() - t0
        dctx = zstandard.ZstdDecompressor(**kwargs)
        t0 = time.perf_counter()
        for b in blobs:
            dctx.decompress(b)
        td = time.perf_counter() - t0
        stored = sum(map(len, blobs))
        print(f"  zstd {LEVEL}, {label:13s}: {raw / stored:5.1f}× ({stored / len(sample):,.0f} B/event of"
              f" {raw / len(sample):,.0f}); compress {len(sample) / tc:,.0f}/s, decompress {len(sample) / td:,.0f}/s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--courses", type=int, default=10)
    ap.add_argument("--students", type=int, default=400)
    ap.add_argument("--days", type=int, default=21)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--pg", default=os.environ.get("CALIPER_STREAM_TEST_PG", "postgresql://127.0.0.1:5432/test"))
    ap.add_argument("--no-pg", action="store_true")
    ap.add_argument("--pg-extended", action="store_true", help="also PostgreSQL compressed with raw EXTENDED")
    ap.add_argument("--top", type=int, default=12, help="rows of each breakdown")
    ap.add_argument("--work", help="directory for the term and the databases (default: a temporary one)")
    args = ap.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="disk_bench_"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        print(load())
        term = simulate(args, work)
        t0 = time.perf_counter()
        batch = prepare(read_path(term), source="import:term.jsonl")
        rows = unique(batch.rows)
        json_bytes = term.stat().st_size
        print(f"term: {len(rows):,} events, {json_bytes / 1e6:,.1f} MB of JSON Lines"
              f" ({sum(len(r.raw) for r in rows) / len(rows):,.0f} B/event raw); read + prepare {time.perf_counter() - t0:.1f} s")
        plain_rate, plain = sqlite_run("no compression", work, rows, json_bytes, args.top, compression=False)
        plain.close()
        rate, store = sqlite_run("compressed", work, rows, json_bytes, args.top)
        print(f"\nSQLite write rate, compressed / plain: {rate / plain_rate:.2f}  ({load()})")
        print("\ncodec, one core, the newest 50,000 events:")
        codec_rates(store, rows)
        store.close()
        if not args.no_pg:
            pg_plain = pg_run("no compression (raw EXTENDED: pglz)", args.pg, rows, json_bytes, args.top,
                              extended=True, compression=False)
            pg_rate = pg_run("compressed (raw EXTERNAL)", args.pg, rows, json_bytes, args.top)
            if args.pg_extended:
                pg_run("compressed, raw EXTENDED (pglz allowed)", args.pg, rows, json_bytes, 4, extended=True)
            print(f"\nPostgreSQL write rate, compressed / plain: {pg_rate / pg_plain:.2f}  ({load()})")
        print(f"\n{load()}")
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
