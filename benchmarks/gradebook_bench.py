"""Gradebook report timings on an existing store, against references measured in the same run.

Build the store first (the issue's term scale), e.g.::

    caliper-stream simulate --courses 20 --students 2000 --days 60 --seed 7 --out term.jsonl.gz --names names.csv
    caliper-stream import --db sqlite:///big.db term.jsonl.gz && caliper-stream names load names.csv --db sqlite:///big.db
    python benchmarks/gradebook_bench.py --db sqlite:///big.db [--repeat 5]

Timed (median and best of ``--repeat``, warm): ``gradebook`` of the largest course and of the
whole site, the Grade Center matrix of that course, the site's grade distribution, one cell
with its history; once: the fold of every grade event (what rebuilding the kept cells costs)
and a refresh with nothing new. References: reading every kept cell with one ``SELECT`` (the
least any whole-site answer costs on this store) and 10^6 additions in a Python loop (the
machine's speed right now; it is shared, so compare ratios).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

from caliper_stream.analyse.gradebook import (
    _CELLS,
    compute,
    grade_distribution,
    grade_matrix,
    gradebook,
    gradebook_cell,
    refresh,
)
from caliper_stream.store import open_store


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, float, int]:
    runs, size = [], 0
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        runs.append(time.perf_counter() - t)
        size = len(out) if hasattr(out, "__len__") else 1
    return statistics.median(runs), min(runs), size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", required=True)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    store = open_store(args.db)
    t = time.perf_counter()
    rebuilt = refresh(store)
    print(f"refresh on open: {rebuilt} courses in {time.perf_counter() - t:.2f} s")
    events, grade_events = store.query(
        "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM events WHERE type IN ('GradeEvent', 'OutcomeEvent'))"
    )[0]
    course, cells = store.query("SELECT course_number, count(*) FROM gb_cells GROUP BY course_number ORDER BY 2 DESC LIMIT 1")[0]
    one = store.query("SELECT user_uuid, item_pk FROM gb_cells WHERE course_number = ? LIMIT 1", [course])[0]
    print(f"{store.dialect}: {events:,} events, {grade_events:,} grade events; largest course {course} ({cells:,} cells)")

    def loop() -> int:
        total = 0
        for i in range(1_000_000):
            total += i
        return total

    rows = [
        ("reference: 10^6-addition loop", timed(loop, args.repeat)),
        ("reference: SELECT every kept cell", timed(lambda: store.query(_CELLS), args.repeat)),
        ("refresh, nothing new", timed(lambda: [refresh(store)], args.repeat)),
        ("gradebook, one course", timed(lambda: gradebook(store, course=course), args.repeat)),
        ("grade matrix, one course", timed(lambda: grade_matrix(store, course=course), args.repeat)),
        ("one cell with history", timed(lambda: [gradebook_cell(store, course, one[0], one[1])], args.repeat)),
        ("gradebook, whole site", timed(lambda: gradebook(store), args.repeat)),
        ("grade distribution, whole site", timed(lambda: grade_distribution(store), args.repeat)),
        ("fold every grade event (a rebuild)", timed(lambda: compute(store), 1)),
    ]
    ref = rows[0][1][0]
    print(f"{'what':40} {'median ms':>10} {'best ms':>9} {'rows':>8} {'× loop':>7}")
    for name, (median, best, size) in rows:
        print(f"{name:40} {median * 1000:10.1f} {best * 1000:9.1f} {size:8,} {median / ref:7.1f}")
    store.close()


if __name__ == "__main__":
    main()
