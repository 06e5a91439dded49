"""Events per day by source and type (``/api/daily``) from the ``an_daily`` summary, the
figures a refresh defers to its end (``an_stale``) and one user's courses from the per-user
groups, over SQLite and PostgreSQL.

Ground truth is counted here in plain Python from every stored event; the term arrives in
shuffled batches with late events and duplicate deliveries, with refreshes in between.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from storekit import raw_connection, schema_before
from test_analytics import deliver, stored, term_rows

from caliper_stream.analyse import funnel, items, question_types, refresh
from caliper_stream.analyse.activity import activity, daily
from caliper_stream.analyse.summary import LocalTime, scan, time_zone
from caliper_stream.store import Store, open_store
from caliper_stream.store.common import ROW_COLUMNS, row_values, unique_rows


def truth_daily(
    events: list[dict[str, Any]], course: str | None = None, since: str | None = None, until: str | None = None
) -> list[dict[str, Any]]:
    counted: Counter[tuple[str, Any, Any]] = Counter()
    for e in events:
        at = e["event_time"]
        if at is None or (course is not None and e["course_number"] != course):
            continue
        if (since is not None and at < since) or (until is not None and at >= until):
            continue
        counted[(at[:10], e["source"], e["type"])] += 1
    return [
        {"day": d, "source": s, "type": t, "events": n}
        for (d, s, t), n in sorted(counted.items(), key=lambda kv: (kv[0][0], kv[0][1] or "", kv[0][2] or ""))
    ]


def check_daily(store: Store) -> None:
    events = stored(store)
    assert daily(store) == truth_daily(events)
    assert sum(r["events"] for r in daily(store)) == len(events)
    days = sorted({e["event_time"][:10] for e in events})
    course = next(e["course_number"] for e in events if e["course_number"])
    since, until = days[1], days[-2]
    assert daily(store, course=course, since=since, until=until) == truth_daily(events, course, since, until)
    # a bound inside a day is answered from the events, by the same rules
    inside = since + "T13:30:00.000Z"
    assert daily(store, since=inside) == truth_daily(events, since=inside)
    assert daily(store, course="no such course") == []


def test_daily_matches_the_events_after_late_and_duplicate_delivery(store: Store) -> None:
    rows = list(term_rows())
    rng = random.Random(5)
    late = rng.sample(rows, len(rows) // 4)
    late_keys = {r.event_key for r in late}
    early = [r for r in rows if r.event_key not in late_keys]
    again = rng.sample(rows, 30)
    deliver(store, early + late + again, [len(early) // 2, len(early), len(early) + 20], refresh_between=True)
    check_daily(store)


@settings(max_examples=3, deadline=None, phases=[Phase.generate], suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**16), cuts=st.lists(st.integers(0, 2000), max_size=4))
def test_daily_incremental_equals_rebuild_and_survives_deletes(store: Store, seed: int, cuts: list[int]) -> None:
    rows = list(term_rows())
    random.Random(seed).shuffle(rows)
    with store.transaction() as cur:
        cur.execute("DELETE FROM events")
    deliver(store, rows, [c % len(rows) for c in cuts], refresh_between=True)
    check_daily(store)
    with store.transaction() as cur:  # forget a course: the next refresh rebuilds
        cur.execute("DELETE FROM events WHERE course_number = (SELECT min(course_number) FROM events)")
    check_daily(store)


def test_figures_left_stale_by_an_interrupted_refresh_are_recomputed(store: Store) -> None:
    store.write(list(term_rows()))
    want = (funnel(store), items(store), question_types(store))
    # as a refresh that committed its chunks but stopped before recomputing the figures leaves it
    with store.transaction() as cur:
        cur.execute("INSERT INTO an_stale (kind, course_number, assessment_pk)"
                    " SELECT DISTINCT 'test', course_number, assessment_pk FROM an_test_attempts")
        cur.execute("INSERT INTO an_stale (kind, course_number, assessment_pk)"
                    " SELECT DISTINCT 'qtype', course_number, '' FROM an_question_attempts")
        cur.execute("DELETE FROM an_figures")
    assert refresh(store) == 0  # nothing new to fold, but the figures come back
    assert store.query("SELECT count(*) FROM an_stale")[0][0] == 0
    assert (funnel(store), items(store), question_types(store)) == want


def test_migration_counts_the_days_of_summaries_built_before_it(store_url: str) -> None:
    rows = list(term_rows())
    half = len(rows) // 2
    first = unique_rows([rows[:half]])
    # a store as it was before migration 0011, its summaries said to be built up to here
    schema_before(store_url, 11)
    conn, mark = raw_connection(store_url)
    with conn:
        cur = conn.cursor()
        cur.executemany(
            f"INSERT INTO events ({', '.join(ROW_COLUMNS)}) VALUES ({', '.join([mark] * len(ROW_COLUMNS))})",
            [row_values(r, lambda raw: (None, raw)) for r in first],
        )
        if mark == "%s":  # PostgreSQL keeps the keys apart (migration 0010)
            cur.executemany("INSERT INTO event_keys (event_key) VALUES (%s)", [(r.event_key,) for r in first])
        cur.execute(f"UPDATE an_state SET high_water = {len(first)}")
    conn.close()
    s = open_store(store_url)
    try:
        assert s.schema_version() >= 11
        s.write(rows[half:])
        check_daily(s)
    finally:
        s.close()


def test_sqlite_and_postgresql_count_the_same_days(sqlite_url: str, pg_url: str) -> None:
    answers = []
    for url in (sqlite_url, pg_url):
        s = open_store(url)
        try:
            s.write(list(term_rows()))
            days = sorted(r["day"] for r in daily(s))
            answers.append((daily(s), daily(s, since=days[1], until=days[-1]), daily(s, since=days[1] + "T12:00:00.000Z")))
        finally:
            s.close()
    assert answers[0] == answers[1]


def test_one_users_courses_from_the_summaries_equal_a_scan(store: Store) -> None:
    rows = list(term_rows())
    deliver(store, rows, [len(rows) // 3, 2 * len(rows) // 3], refresh_between=True)
    tz = ZoneInfo(time_zone(store))
    users = sorted({r.keydata.user_uuid for r in rows if r.keydata.user_uuid})[:6]
    assert users
    for user in users:
        scanned = scan(store, LocalTime(tz), course=None, user=user, since=None, until=None, kind="course")
        want = [
            {"course_number": c or "(no course)", "events": n, "users": u, "sessions": s, "active_days": d,
             "first_seen": f, "last_seen": last}
            for c, _, n, u, s, d, f, last in scanned
        ]
        got = activity(store, by="course", user=user)
        assert got == want
        assert got, "every simulated user has events"
        course = got[0]["course_number"]
        assert activity(store, by="course", user=user, course=course) == [got[0]]
