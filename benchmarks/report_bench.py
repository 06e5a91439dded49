"""Every report, per course and site-wide, on a simulated term: summaries against the naive scan.

    python benchmarks/report_bench.py                                   # ~100 k events, a few minutes
    python benchmarks/report_bench.py --courses 40 --students 1333 --days 60 --seed 7   # ~1 M events
    python benchmarks/report_bench.py --db sqlite:////tmp/term.db       # reuse a store built before
    python benchmarks/report_bench.py --db postgresql://127.0.0.1:5432/test?options=-c%20search_path%3Dbench

The store is built with ``caliper-stream simulate`` + ``caliper-stream import`` (both timed), the
summaries are then built once by `refresh` (timed: that is the cost a store pays once, after an
upgrade or a change of time zone; afterwards each refresh folds only the new events). Each
report runs ``--repeat`` times for the whole site and for the busiest course, and the median is
printed. The reference, measured in the same run on the same store, is the naive scan the
reports were before the summaries (the funnel, item timings and activity that read the events
table; kept below verbatim in spirit, as plain SQL over ``events``).
"""

from __future__ import annotations

import argparse
import inspect
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from caliper_stream.analyse import REPORTS, refresh
from caliper_stream.store import Store, open_store

USER_KEY = "COALESCE(user_uuid, user_pk, actor_id)"


# --- the reference: reports as they were, scanning events ---------------------------------------


def naive_funnel(store: Store, course: str | None = None) -> int:
    clauses, params = ["type = 'AssessmentEvent'", "assessment_pk IS NOT NULL"], []
    if course is not None:
        clauses.append("course_number = ?")
        params.append(course)
    started: dict[Any, set[Any]] = defaultdict(set)
    submitted: dict[Any, set[Any]] = defaultdict(set)
    sql = f"SELECT course_number, assessment_pk, action, {USER_KEY} FROM events WHERE {' AND '.join(clauses)}"
    for c, a, action, user in store.stream(sql, params):
        (started if action == "Started" else submitted)[(c, a)].add(user)
    graded: dict[Any, set[Any]] = defaultdict(set)
    for item, user in store.stream(
        f"SELECT gradable_item_pk, {USER_KEY} FROM events WHERE type IN ('GradeEvent', 'OutcomeEvent')"
        " AND gradable_item_pk IS NOT NULL"
    ):
        graded[item].add(user)
    return len(set(started) | set(submitted))


def naive_items(store: Store, course: str | None = None) -> int:
    clauses, params = ["type = 'AssessmentItemEvent'", "question_pk IS NOT NULL"], []
    if course is not None:
        clauses.append("course_number = ?")
        params.append(course)
    sql = (
        f"SELECT course_number, assessment_pk, question_pk, action, event_time, {USER_KEY}, attempt_pk"
        f" FROM events WHERE {' AND '.join(clauses)}"
    )
    starts: dict[Any, datetime] = {}
    ends: dict[Any, datetime] = {}
    for c, a, q, action, at, user, attempt in store.stream(sql, params):
        when = datetime.fromisoformat(at.replace("Z", "+00:00"))
        (starts if action == "Started" else ends)[(c, a, q, user, attempt)] = when
    spent: dict[Any, list[float]] = defaultdict(list)
    for pair, start in starts.items():
        if pair in ends:
            spent[pair[:3]].append((ends[pair] - start).total_seconds())
    return len({k[:3] for k in starts} | {k[:3] for k in ends})


def naive_activity(store: Store, course: str | None = None) -> int:
    where, params = ("WHERE course_number = ?", [course]) if course is not None else ("", [])
    sql = f"""SELECT course_number, COUNT(*), COUNT(DISTINCT {USER_KEY}), COUNT(DISTINCT session_id),
                     MIN(event_time), MAX(event_time) FROM events {where} GROUP BY course_number"""
    return len(store.query(sql, params))


REFERENCE: dict[str, Callable[..., int]] = {"funnel": naive_funnel, "items": naive_items, "activity": naive_activity}


# --- measuring -----------------------------------------------------------------------------------


def cli(*args: str) -> float:
    exe = shutil.which("caliper-stream")
    cmd = [exe] if exe else [sys.executable, "-m", "caliper_stream"]
    started = time.perf_counter()
    proc = subprocess.run([*cmd, *args], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"caliper-stream {args[0]} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return time.perf_counter() - started


def timed(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def size_mb(store: Store) -> float | None:
    if store.dialect == "sqlite":
        pages, page = store.query("PRAGMA page_count")[0][0], store.query("PRAGMA page_size")[0][0]
        return pages * page / 1e6
    found = store.query(
        "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class AS c"
        " JOIN pg_namespace AS n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relkind = 'r'"
    )[0][0]
    return float(found or 0) / 1e6


def variants() -> list[tuple[str, str, dict[str, Any]]]:
    out = [(name, name, {}) for name in REPORTS]
    out += [(f"activity --by {by}", "activity", {"by": by}) for by in ("day", "hour", "user")]
    out += [("items --order hardest", "items", {"order": "hardest", "limit": 10})]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--courses", type=int, default=10)
    ap.add_argument("--students", type=int, default=300)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--db", help="an existing store to measure (skips simulate + import), or where to build one")
    ap.add_argument("--build", action="store_true", help="with --db: build the term into it first")
    ap.add_argument("--dir", help="where to simulate (default: a temporary directory)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-reference", action="store_true", help="do not time the naive scans")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        db = args.db or f"sqlite:///{Path(tmp) / 'term.db'}"
        if args.db is None or args.build:
            out = Path(tmp) / "term"
            sim = cli("simulate", "--courses", str(args.courses), "--students", str(args.students), "--days",
                      str(args.days), "--seed", str(args.seed), "--out", str(out))
            imp = cli("import", str(out), "--db", db, "-q")
            print(f"simulate {sim:.1f} s, import {imp:.1f} s")
        store = open_store(db)
        try:
            measure(store, args)
        finally:
            store.close()


def measure(store: Store, args: argparse.Namespace) -> None:
    events = store.query("SELECT count(*) FROM events")[0][0]
    before = size_mb(store)
    started = time.perf_counter()
    folded = refresh(store)
    build = time.perf_counter() - started
    after = size_mb(store)
    noop = timed(lambda: refresh(store), args.repeat)
    print(f"store: {store.dialect}, {events:,} events, {before or 0:,.0f} MB")
    if folded:
        print(f"summaries built: {folded:,} events in {build:.1f} s ({folded / build:,.0f} events/s),"
              f" store {after or 0:,.0f} MB after")
    print(f"refresh with nothing new: {noop * 1000:.2f} ms")
    course = store.query(
        "SELECT course_number FROM an_counts WHERE kind = 'course' AND course_number <> ''"
        " ORDER BY events DESC LIMIT 1"
    )[0][0]
    print(f"course: {course} (the busiest)\n")
    print(f"{'report':28} {'site ms':>10} {'course ms':>10} {'rows':>8} {'naive site ms':>14} {'naive course ms':>16}")
    for label, name, kwargs in variants():
        fn = REPORTS[name]
        takes_course = "course" in inspect.signature(fn).parameters
        try:
            rows = len(fn(store, **kwargs))
            site = timed(lambda fn=fn, kw=kwargs: fn(store, **kw), args.repeat)
        except (TypeError, ValueError) as exc:  # a report that needs a filter (e.g. one course)
            rows, site = -1, float("nan")
            print(f"{label:28} site-wide: {exc}")
        one = timed(lambda fn=fn, kw=kwargs: fn(store, course=course, **kw), args.repeat) if takes_course else None
        ref_site = ref_one = ""
        if not args.skip_reference and label in REFERENCE:
            ref = REFERENCE[label]
            ref_site = f"{timed(lambda ref=ref: ref(store), 1) * 1000:,.0f}"
            ref_one = f"{timed(lambda ref=ref: ref(store, course), 1) * 1000:,.0f}"
        course_ms = f"{one * 1000:,.1f}" if one is not None else "-"
        print(f"{label:28} {site * 1000:>10,.1f} {course_ms:>10} {rows:>8,} {ref_site:>14} {ref_one:>16}")


if __name__ == "__main__":
    main()
