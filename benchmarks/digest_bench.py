"""The digest alone: inboxed bodies into events, on one core, without HTTP, against a bare reference.

    python benchmarks/digest_bench.py                    # 300 bodies of each payload, SQLite
    python benchmarks/digest_bench.py --bodies 100 --payloads learn --dir /var/tmp

What the endpoint's digester does, timed step by step in one process: bodies of 100 events
(``learn``: Learn's AssessmentItemEvent sample, ``sim``: the simulator's mix; every event a
fresh id) are inboxed, then digested by `digest_once` until the inbox is empty. Printed per
payload, in µs per stored event:

* ``digest``: the whole of `digest_once` (read the inbox, parse, store, commit);
* ``parse``: `digest_body` of the same bodies alone (read, decode, key data, dead letters);
* ``rows``: `event_values` of the parsed rows (raw bytes compressed, indexed values bounded, IRIs
  split into prefix ids and suffixes), in one transaction;
* ``reference``: ``benchmarks/reference_store.py``'s SQLite writer on the same bodies, called
  directly: each event's ``id`` decoded alone, one ``executemany`` of (id, raw) per body; its
  ratio to ``digest`` is the one to compare across runs.

Run it with ``CALIPER_STREAM_PURE=1`` to time the sources instead of the compiled modules.

``--growth N`` times the digest as the store grows instead: N bodies inboxed and digested 100 at
a time into one store, per claim of ``--claims`` (events per digest transaction, each on a fresh
store), printing µs per event of every 100 bodies:

    python benchmarks/digest_bench.py --growth 1600 --payloads sim --claims 2000,20000
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
import uuid
from pathlib import Path

from caliper_stream.compiled import status
from caliper_stream.server.storage import digest_body, digest_once
from caliper_stream.store import open_store
from caliper_stream.store.base import Claim, Inboxed
from learn_payloads import envelope, sample_events, simulated_bodies, simulated_envelope
from reference_store import SQLiteSink

MAX_INFLATED = 128 * 1024 * 1024
_ID = re.compile(rb'"id":"[0-9a-f-]{36}"')


def bodies(payload: str, count: int) -> list[bytes]:
    """`count` 100-event envelopes, every event with an id of its own."""
    if payload == "learn":
        one = [e for e in sample_events() if e.get("type") == "AssessmentItemEvent"][:1]
        return [envelope(one, 100) for _ in range(count)]
    events = simulated_bodies(2000)
    out = []
    for i in range(count):
        fresh = [_ID.sub(b'"id":"' + str(uuid.uuid4()).encode() + b'"', events[(i * 100 + j) % len(events)], count=1)
                 for j in range(100)]
        out.append(simulated_envelope(fresh, 100))
    return out


def reference(data: list[bytes], path: Path) -> float:
    """Seconds for the reference store's SQLite writer (``reference_store.SQLiteSink``) to store
    every event of `data`, a transaction per body, called directly (no HTTP)."""
    sink = SQLiteSink(str(path))
    started = time.perf_counter()
    for body in data:
        sink.write(body)
    seconds = time.perf_counter() - started
    sink.db.close()
    sink.executor.shutdown()
    return seconds


def measure(payload: str, count: int, work: Path) -> None:
    data = bodies(payload, count)
    items = [Inboxed(body=b, source="bench", received_at="2026-12-02T00:00:00.000Z", events=100) for b in data]
    events = 100 * count

    started = time.perf_counter()
    parsed = [digest_body(item, MAX_INFLATED, None)[0] for item in items]
    parse = time.perf_counter() - started

    store = open_store(f"sqlite:///{work / f'{payload}.db'}")
    try:
        store.inbox_put(items)
        started = time.perf_counter()
        stored = 0
        while (info := digest_once(store, MAX_INFLATED, None)).requests:
            stored += info.events
        digest = time.perf_counter() - started
        rows = [row for batch in parsed for row in batch.rows]
        started = time.perf_counter()
        store.transact(lambda tx: tx.event_values(rows))
        values = time.perf_counter() - started
    finally:
        store.close()
    ref = reference(data, work / f"{payload}-reference.db")

    def us(seconds: float) -> str:
        return f"{1e6 * seconds / events:8.1f}"

    print(f"{payload:6} {events:>8,} {stored:>8,} {us(digest)} {us(parse)} {us(values)} {us(ref)}"
          f"   {ref / digest:5.2f}   {os.getloadavg()[0]:4.1f}")


def growth(payload: str, count: int, claims: list[int], work: Path) -> None:
    """µs per event of each 100 bodies digested, as one store grows, for each claim size."""
    print(f"{payload}: µs per event digested, by events in the store, per claim (events per digest)")
    columns: dict[int, list[float]] = {}
    for claim in claims:
        store = open_store(f"sqlite:///{work / f'{payload}-growth-{claim}.db'}")
        try:
            for _ in range(0, count, 100):
                store.inbox_put([Inboxed(body=b, source="bench", received_at="2026-12-02T00:00:00.000Z", events=100)
                                 for b in bodies(payload, 100)])
                started, stored = time.perf_counter(), 0
                while (info := digest_once(store, MAX_INFLATED, None, Claim(events=claim))).requests:
                    stored += info.events
                columns.setdefault(claim, []).append(1e6 * (time.perf_counter() - started) / stored)
        finally:
            store.close()
    print("  events " + "".join(f"{c:>10,}" for c in claims))
    for i in range(len(columns[claims[0]])):
        print(f"{(i + 1) * 10_000:>8,} " + "".join(f"{columns[c][i]:10.1f}" for c in claims))
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bodies", type=int, default=300, help="100-event bodies per payload")
    ap.add_argument("--payloads", default="learn,sim")
    ap.add_argument("--dir", type=Path, default=None, help="where the SQLite files go (default: a temporary directory)")
    ap.add_argument("--growth", type=int, default=0, metavar="N",
                    help="time N bodies digested 100 at a time into one growing store, per claim")
    ap.add_argument("--claims", default="2000,20000", help="with --growth: events per digest transaction")
    args = ap.parse_args()
    print(f"modules: {status()}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}", file=sys.stderr)
    if not args.growth:
        print("µs per event; ratio = reference / digest (the digest's share of the reference's speed)")
        print("payload  events   stored   digest    parse     rows reference   ratio  load")
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for payload in args.payloads.split(","):
            if args.growth:
                growth(payload, args.growth, [int(c) for c in args.claims.split(",")], Path(tmp))
            else:
                measure(payload, args.bodies, Path(tmp))


if __name__ == "__main__":
    main()
