"""Store-only write rate: prepared rows bulk-written in transactions of a given size.

    python benchmarks/store_bench.py                 # 50,000 events, SQLite and PostgreSQL
    python benchmarks/store_bench.py -n 200000 --pg postgresql://127.0.0.1:5432/test
    python benchmarks/store_bench.py --no-pg

Rows are built before timing (Learn's sample events with fresh ids, through `prepare`), so
only `Store.write` is measured. PostgreSQL runs in a throw-away schema, both write methods
(COPY through a staging table, and executemany in pipeline mode). The last section measures
the group-commit writer: many concurrent 10-event requests.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))

from caliper_stream.ingest import Batch, Row, prepare
from caliper_stream.read import read_bytes
from caliper_stream.store import Store, open_store
from caliper_stream.store.writer import Writer
from learn_events import events


def build_rows(n: int) -> list[Row]:
    batch = prepare(read_bytes(b"\n".join(events(n))), source="bench")
    if batch.dead_letters or len(batch.rows) != n:
        raise SystemExit("templated events must all be accepted")
    return batch.rows


def bulk(store: Store, rows: list[Row], per_tx: int) -> float:
    """Events per second writing `rows` in transactions of `per_tx` rows."""
    started = time.perf_counter()
    for i in range(0, len(rows), per_tx):
        store.write(rows[i : i + per_tx])
    return len(rows) / (time.perf_counter() - started)


def grouped(store: Store, rows: list[Row], per_request: int = 10, concurrency: int = 200) -> tuple[float, float]:
    """Events per second and mean commit size through the writer with concurrent requests."""

    async def main() -> tuple[float, float]:
        writer = Writer(store)
        await writer.start()
        sem = asyncio.Semaphore(concurrency)

        async def request(chunk: list[Row]) -> None:
            async with sem:
                await writer.write(Batch(chunk))

        started = time.perf_counter()
        await asyncio.gather(*(request(rows[i : i + per_request]) for i in range(0, len(rows), per_request)))
        seconds = time.perf_counter() - started
        await writer.stop()
        return len(rows) / seconds, writer.rows_committed / max(writer.commits, 1)

    return asyncio.run(main())


def run(label: str, open_fresh: Callable[[], Store], rows_by_size: dict[int, list[Row]], group_rows: list[Row]) -> None:
    for per_tx, rows in rows_by_size.items():
        store = open_fresh()
        try:
            rate = bulk(store, rows, per_tx)
        finally:
            store.close()
        print(f"{label:<34} {per_tx:>5} rows/tx  {len(rows):>8,} events  {rate:>10,.0f} events/s", flush=True)
    store = open_fresh()
    try:
        rate, size = grouped(store, group_rows)
    finally:
        store.close()
    print(f"{label:<34} writer, 10-event requests ×200 concurrent: {rate:>10,.0f} events/s (mean commit {size:,.0f} rows)", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=50_000, help="events per run (1000-row transactions)")
    ap.add_argument("--pg", default="postgresql://127.0.0.1:5432/test", help="PostgreSQL URL")
    ap.add_argument("--no-pg", action="store_true", help="SQLite only")
    args = ap.parse_args()

    print(f"building {args.n:,} + {args.n // 5:,} + {args.n // 5:,} rows from Learn's samples…", flush=True)
    rows_by_size = {1000: build_rows(args.n), 100: build_rows(args.n // 5)}
    group_rows = build_rows(args.n // 5)
    mean = sum(len(r.raw) for r in rows_by_size[1000]) / args.n
    print(f"mean raw event size {mean:,.0f} bytes", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        for durability in ("normal", "full"):
            def fresh_sqlite(d: str = durability) -> Store:
                path = Path(tmp) / f"{uuid.uuid4().hex}.db"
                return open_store(f"sqlite:///{path}", durability=d)

            run(f"sqlite (synchronous={durability})", fresh_sqlite, rows_by_size, group_rows)

    if args.no_pg:
        return
    import psycopg

    schemas: list[str] = []
    try:
        for method in ("copy", "executemany"):
            def fresh_pg(m: str = method) -> Store:
                schema = f"bench_{uuid.uuid4().hex[:10]}"
                with psycopg.connect(args.pg, autocommit=True) as conn:
                    conn.execute(f"CREATE SCHEMA {schema}")
                schemas.append(schema)
                sep = "&" if "?" in args.pg else "?"
                return open_store(f"{args.pg}{sep}options={quote(f'-c search_path={schema}')}", method=m)

            run(f"postgresql ({method})", fresh_pg, rows_by_size, group_rows)
    finally:
        with psycopg.connect(args.pg, autocommit=True) as conn:
            for schema in schemas:
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


if __name__ == "__main__":
    main()
