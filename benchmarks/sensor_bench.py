"""Sensor speed: events/s from ``Sensor.send`` into a local ``caliper-stream serve``, acknowledged.

One run, same events (a simulated term, no duplicates) three ways:

1. ``send``: storing them in the durable outbox (SQLite, one commit per ``send_many`` call);
2. delivery: ``Sensor.flush()`` posting envelopes of ``--batch-size`` to a ``serve`` subprocess
   over loopback until every event is acknowledged (the server commits before answering);
3. store only: ``store.write`` of the same rows (already decoded) into a fresh SQLite store in
   chunks of 1,000, i.e. the ceiling for what the server can commit;

and the ratio delivery / store-only. The machine is shared: compare ratios, not absolutes.

    python benchmarks/sensor_bench.py [--courses 6 --students 200 --days 7 --batch-size 100 --concurrency 1]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from caliper_stream.event import decode
from caliper_stream.ingest import prepare
from caliper_stream.read import read_bytes
from caliper_stream.sensor import Sensor
from caliper_stream.sensor import builders as b
from caliper_stream.simulate import TermConfig, generate
from caliper_stream.simulate.replay import LocalServer
from caliper_stream.store import open_store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--courses", type=int, default=6)
    parser.add_argument("--students", type=int, default=200)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=1, help="Requests in flight at once.")
    args = parser.parse_args()
    config = TermConfig(courses=args.courses, students=args.students, days=args.days, seed=2, late_rate=0, duplicate_rate=0)
    events = [p.built for p in generate(config)]
    n = len(events)
    with tempfile.TemporaryDirectory() as tmp:
        with LocalServer(Path(tmp) / "served.db") as server:
            sensor = Sensor(server.url, server.key, outbox=Path(tmp) / "outbox.db", background=False, batch_size=args.batch_size,
                            concurrency=args.concurrency)
            t0 = time.perf_counter()
            for i in range(0, n, 1000):
                sensor.send_many(events[i : i + 1000], nightly=False)
            t1 = time.perf_counter()
            sensor.flush()
            t2 = time.perf_counter()
            stats = sensor.stats()
            sensor.close()
            assert stats.sent == n, stats
            assert stats.pending == 0, stats

        bodies = b"\n".join(b.encode(e.event) for e in events)
        rows = prepare((decode(r) for r in read_bytes(bodies)), source="bench").rows
        store = open_store(f"sqlite:///{Path(tmp) / 'direct.db'}")
        try:
            t3 = time.perf_counter()
            for i in range(0, len(rows), 1000):
                store.write(rows[i : i + 1000])
            t4 = time.perf_counter()
        finally:
            store.close()
    deliver, direct = n / (t2 - t1), len(rows) / (t4 - t3)
    print(f"{n:,} events ({config.courses} courses, {config.students} students, {config.days} days), "
          f"batch size {args.batch_size}, concurrency {args.concurrency}")
    print(f"  send() into the outbox       {n / (t1 - t0):>9,.0f} events/s")
    print(f"  delivery to serve, acked     {deliver:>9,.0f} events/s ({stats.sent:,} sent, {stats.retries} retries)")
    print(f"  store.write only (same rows) {direct:>9,.0f} events/s")
    print(f"  ratio delivery / store-only  {deliver / direct:>9.2f}")


if __name__ == "__main__":
    main()
