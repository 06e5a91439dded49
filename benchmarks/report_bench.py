"""Every report, API route and dashboard page at term scale, each next to its target.

    python benchmarks/report_bench.py --db sqlite:////work/scratch/t1m.db          # a store built before
    python benchmarks/report_bench.py --db postgresql://127.0.0.1:5432/test?options=-c%20search_path%3Dscale1m
    python benchmarks/report_bench.py --build 40 1333 60                            # ~1 M events, built here
    python benchmarks/report_bench.py --build 10 300 30 --db sqlite:////tmp/t.db    # build into --db
    python benchmarks/report_bench.py                                               # --build 10 300 30

``--build COURSES STUDENTS DAYS`` runs ``caliper-stream simulate`` (seed 7) and ``import`` first,
both timed. Then, on the store:

* **cold**: the summary and gradebook refreshes the first report after an import pays (the
  events folded since the last refresh; all of them on a freshly imported store), with their rate;
* **reports**: every report of `analyse.REPORTS` (and the ``activity --by`` variants) for the
  whole site and for the busiest course, in-process; first call and the median of ``--repeat``;
* **HTTP**: a real ``caliper-stream serve`` on a loopback port: every ``/api/…`` route (site-wide
  and one course), the site-wide gradebook's first page, whole CSV stream (time to first byte and
  rows/s), and every dashboard page with a signed-in session cookie: its HTML and then the API
  requests its script makes, in order, summed (what a browser waits for before the page is drawn).

Targets: one course < 200 ms, the whole site < 1 s, a dashboard page < 1 s. The machine may be
shared: the load average is printed with the figures, and the reference measured in the same run
(``SELECT count(*)`` of the events table: what any scan of the store costs) is printed with them.
"""

from __future__ import annotations

import argparse
import inspect
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from caliper_stream.analyse import REPORTS, summary
from caliper_stream.analyse.activity import daily
from caliper_stream.analyse.gradebook import refresh as refresh_cells
from caliper_stream.simulate.replay import free_port
from caliper_stream.store import Store, open_store

COURSE_MS, SITE_MS, PAGE_MS = 200.0, 1000.0, 1000.0


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f}"


def cli(*args: str) -> tuple[float, str]:
    exe = shutil.which("caliper-stream")
    cmd = [exe] if exe else [sys.executable, "-m", "caliper_stream"]
    started = time.perf_counter()
    proc = subprocess.run([*cmd, *args], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"caliper-stream {args[0]} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return time.perf_counter() - started, proc.stdout


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    """First call and median of `repeat` more, in ms, and the first answer."""
    started = time.perf_counter()
    first = fn()
    cold = time.perf_counter() - started
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return cold * 1000, statistics.median(times) * 1000 if times else cold * 1000, first


def verdict(ms: float, target: float) -> str:
    return "ok" if ms < target else "SLOW"


def line(label: str, first: float, warm: float, target: float, extra: str = "") -> None:
    print(f"  {label:46} {first:>9,.1f} {warm:>9,.1f} {target:>7,.0f} {verdict(warm, target):>4}  {extra}")


def variants() -> list[tuple[str, str, dict[str, Any]]]:
    out = [(name, name, {}) for name in REPORTS]
    out += [(f"activity --by {by}", "activity", {"by": by}) for by in ("day", "hour", "user")]
    out += [("items --order hardest", "items", {"order": "hardest", "limit": 10})]
    return out


def measure_cold(store: Store) -> None:
    backlog = summary.backlog(store)
    started = time.perf_counter()
    folded = summary.refresh(store)
    built = time.perf_counter() - started
    started = time.perf_counter()
    courses = refresh_cells(store)
    cells = time.perf_counter() - started
    rate = f"{folded / built:,.0f} events/s" if folded else "nothing new"
    print(f"cold: summaries {built:,.1f} s for {folded:,} events ({rate}; backlog was {backlog:,}),"
          f" gradebook cells {cells:,.1f} s ({courses} courses)  [{load()}]")


#: what /api/daily was before the daily summary: a GROUP BY over every event (the reference)
DAILY_SCAN = ("SELECT SUBSTR(event_time, 1, 10), source, type, COUNT(*) FROM events WHERE event_time IS NOT NULL"
              " GROUP BY SUBSTR(event_time, 1, 10), source, type")


def measure_reports(store: Store, course: str, repeat: int) -> None:
    print(f"\nreports in-process (ms; first, median of {repeat} more, target)  [{load()}]")
    first, warm, found = timed(lambda: daily(store), repeat)
    line("daily (an_daily) / site", first, warm, SITE_MS, f"{len(found):,} rows")
    first, warm, found = timed(lambda: store.query(DAILY_SCAN), 0)
    line("reference: daily as a scan of events / site", first, warm, SITE_MS, f"{len(found):,} rows")
    for label, name, kwargs in variants():
        fn = REPORTS[name]
        for scope, kw, target in (("site", kwargs, SITE_MS), ("course", {"course": course, **kwargs}, COURSE_MS)):
            if scope == "course" and "course" not in inspect.signature(fn).parameters:
                continue
            try:
                first, warm, rows = timed(lambda fn=fn, kw=kw: fn(store, **kw), repeat)
            except (TypeError, ValueError) as exc:
                print(f"  {label + ' / ' + scope:46} {exc}")
                continue
            line(f"{label} / {scope}", first, warm, target, f"{len(rows):,} rows")


class Served:
    """A ``caliper-stream serve`` subprocess on a loopback port with a read key."""

    def __init__(self, db: str, key: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        exe = shutil.which("caliper-stream")
        cmd = [exe] if exe else [sys.executable, "-m", "caliper_stream"]
        self.proc = subprocess.Popen([*cmd, "serve", "--db", db, "--port", str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.api = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {key}"}, timeout=300)
        self.browser = httpx.Client(base_url=self.url, timeout=300)
        for _ in range(600):
            try:
                if self.api.get("/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        form = self.browser.get("/dashboard/sign-in")
        token = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert token, "sign-in form without a CSRF token"
        signed = self.browser.post("/dashboard/sign-in", data={"csrf": token.group(1), "key": key},
                                   headers={"Origin": self.url})
        assert signed.status_code == 303, f"sign-in failed: {signed.status_code}"

    def close(self) -> None:
        self.api.close()
        self.browser.close()
        self.proc.terminate()
        self.proc.wait(timeout=30)


def get(client: httpx.Client, path: str, params: dict[str, Any] | None = None) -> int:
    r = client.get(path, params=params)
    if r.status_code != 200:
        sys.exit(f"GET {path} {params}: {r.status_code} {r.text[:300]}")
    return len(r.content)


def measure_api(srv: Served, course: str, repeat: int) -> None:
    print(f"\nHTTP /api (ms; first, median of {repeat} more, target; bytes)  [{load()}]")
    cases: list[tuple[str, str, dict[str, Any], float]] = []
    for name, fn in REPORTS.items():
        cases.append((f"/api/reports/{name}", "site", {"limit": 10000}, SITE_MS))
        if "course" in inspect.signature(fn).parameters:
            cases.append((f"/api/reports/{name}", "course", {"course": course, "limit": 10000}, COURSE_MS))
    cases += [
        ("/api/daily", "site", {"limit": 10000}, SITE_MS),
        ("/api/daily", "course", {"course": course, "limit": 10000}, COURSE_MS),
        ("/api/sources", "site", {}, SITE_MS),
        ("/api/events", "course", {"course": course, "limit": 1000}, COURSE_MS),
        ("/api/deadletters", "site", {}, SITE_MS),
        ("/api/reports/gradebook", "site, first page", {"limit": 1000}, SITE_MS),
        ("/api/reports/grade-matrix", "site, first page", {"limit": 1000}, SITE_MS),
        ("/api/reports/attempts", "site, first page", {"limit": 1000}, SITE_MS),
    ]
    for path, scope, params, target in cases:
        first, warm, size = timed(lambda p=path, q=params: get(srv.api, p, q), repeat)
        line(f"{path} / {scope}", first, warm, target, f"{size:,} B")
    started = time.perf_counter()
    first_byte = None
    rows = 0
    size = 0
    with srv.api.stream("GET", "/api/reports/gradebook", params={"format": "csv"}) as r:
        for chunk in r.iter_bytes():
            if first_byte is None:
                first_byte = time.perf_counter() - started
            rows += chunk.count(b"\n")
            size += len(chunk)
    whole = time.perf_counter() - started
    print(f"  gradebook site-wide CSV stream: first byte {1000 * (first_byte or 0):,.0f} ms, {rows - 1:,} rows"
          f" ({size / 1e6:,.1f} MB) in {whole:,.2f} s = {(rows - 1) / whole:,.0f} rows/s")


def measure_pages(srv: Served, store: Store, course: str, repeat: int) -> None:
    user = store.query("SELECT bucket FROM an_counts WHERE kind = 'user' AND course_number = ?"
                       " ORDER BY events DESC LIMIT 1", [course])
    user = user[0][0] if user else ""
    test = store.query("SELECT assessment_pk FROM an_test_attempts WHERE course_number = ? LIMIT 1", [course])
    test = test[0][0] if test else ""
    # each page's HTML and the API requests its script makes, in order (server/dashboard/static/app.js)
    pages: list[tuple[str, list[tuple[str, dict[str, Any]]]]] = [
        ("/dashboard/", [("/api/reports", {}), ("/api/daily", {"limit": 10000}), ("/api/daily", {}),
                         ("/api/sources", {}), ("/api/reports/activity", {"by": "course"}), ("/api/deadletters", {})]),
        (f"/dashboard/courses/{course}", [("/api/reports", {}),
                                           ("/api/reports/gradebook", {"course": course, "limit": 10000}),
                                           ("/api/reports/funnel", {"course": course}),
                                           ("/api/reports/items", {"course": course}),
                                           ("/api/reports/activity", {"course": course, "by": "hour", "limit": 10000})]),
        (f"/dashboard/students/{user}", [("/api/reports", {}), ("/api/events", {"user": user, "limit": 1000}),
                                         ("/api/reports/gradebook", {"user": user, "limit": 10000}),
                                         ("/api/reports/activity", {"user": user, "by": "course"})]),
        (f"/dashboard/tests/{test}?course={course}", [("/api/reports", {}),
                                                       ("/api/reports/items", {"test": test, "course": course, "limit": 10000}),
                                                       ("/api/reports/funnel", {"test": test, "course": course})]),
    ]
    print(f"\ndashboard pages, signed in (ms; first, median of {repeat} more, target; HTML + API bytes)  [{load()}]")
    for page, calls in pages:
        def visit(page: str = page, calls: list[tuple[str, dict[str, Any]]] = calls) -> tuple[int, int]:
            html = get(srv.browser, page)
            return html, sum(get(srv.browser, p, q) for p, q in calls)
        first, warm, (html, data) = timed(visit, repeat)
        html_ms = timed(lambda page=page: get(srv.browser, page), repeat)[1]
        line(page[:46], first, warm, PAGE_MS, f"HTML {html:,} B in {html_ms:,.1f} ms + {len(calls)} API calls {data:,} B")


@contextmanager
def built(args: argparse.Namespace) -> Iterator[str]:
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        db = args.db or f"sqlite:///{Path(tmp) / 'term.db'}"
        if args.build:
            courses, students, days = args.build
            out = Path(tmp) / "term"
            sim, _ = cli("simulate", "--courses", str(courses), "--students", str(students), "--days", str(days),
                         "--seed", str(args.seed), "--out", str(out))
            imp, _ = cli("import", str(out), "--db", db, "-q")
            shutil.rmtree(out)
            print(f"built: simulate {sim:,.1f} s, import {imp:,.1f} s  [{load()}]")
        yield db


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", help="the store to measure (with --build: where to build it; default a temporary SQLite file)")
    ap.add_argument("--build", nargs=3, type=int, metavar=("COURSES", "STUDENTS", "DAYS"),
                    help="simulate and import this term first")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--dir", help="where to build (default: a temporary directory)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-serve", action="store_true", help="only the in-process reports")
    ap.add_argument("--rebuild", action="store_true",
                    help="mark the summaries and kept cells stale first: cold is then what a freshly imported store pays")
    args = ap.parse_args()
    if args.db is None and not args.build:
        args.build = [10, 300, 30]  # ~110 k events: a quick look
    with built(args) as db:
        store = open_store(db)
        try:
            events = store.query("SELECT count(*) FROM events")[0][0]
            reference = timed(lambda: store.query("SELECT count(*) FROM events"), 1)[1]
            print(f"store: {store.dialect}, {events:,} events; reference SELECT count(*) FROM events"
                  f" {reference:,.0f} ms  [{load()}]")
            if args.rebuild:
                with store.transaction() as cur:
                    cur.execute("UPDATE an_state SET dirty = 1")
                    cur.execute("UPDATE gb_state SET generation = generation + 1")
            measure_cold(store)
            course = store.query("SELECT course_number FROM an_counts WHERE kind = 'course' AND course_number <> ''"
                                 " ORDER BY events DESC LIMIT 1")[0][0]
            print(f"course: {course} (the busiest)")
            measure_reports(store, course, args.repeat)
            if not args.no_serve:
                _, out = cli("keys", "add", f"report-bench-{os.getpid()}", "--role", "read", "--db", db)
                srv = Served(db, out.strip().splitlines()[-1].strip())
                try:
                    measure_api(srv, course, args.repeat)
                    measure_pages(srv, store, course, args.repeat)
                finally:
                    srv.close()
        finally:
            store.close()


if __name__ == "__main__":
    main()
