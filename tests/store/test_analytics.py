"""Assessment and activity analytics, one contract over SQLite and PostgreSQL.

The summaries are refreshed incrementally from the events table; every answer is checked
against a ground truth computed here in plain Python from all stored events at once (no
summary, no SQL aggregate), for a simulated term delivered in shuffled batches with duplicate
deliveries and late events, with refreshes in between.
"""

from __future__ import annotations

import itertools
import math
import random
from collections import defaultdict
from datetime import datetime
from functools import cache
from statistics import median
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from caliper_stream.analyse import (
    REPORTS,
    activity,
    attempts,
    content,
    funnel,
    items,
    lti,
    question_types,
    refresh,
    scores,
    sources,
)
from caliper_stream.analyse.assessments import attempts_page
from caliper_stream.analyse.summary import set_time_zone, time_zone
from caliper_stream.ingest import Row, prepare
from caliper_stream.read import read_bytes
from caliper_stream.sensor import builders as b
from caliper_stream.simulate import TermConfig, generate
from caliper_stream.store import Store, open_store

TERM = TermConfig(courses=2, students=14, days=6, seed=11)
TZ = "America/New_York"


@cache
def term_rows() -> tuple[Row, ...]:
    """The simulated term's events (with the simulator's duplicate deliveries) as store rows."""
    body = b"\n".join(b.encode(p.built.event) for p in generate(TERM))
    batch = prepare(read_bytes(body), source="sim")
    assert not batch.dead_letters
    return tuple(batch.rows)


def deliver(store: Store, rows: list[Row], cuts: list[int], *, refresh_between: bool) -> None:
    """Write rows in batches split at `cuts`, refreshing the summaries after some batches."""
    edges = [0, *sorted(set(cuts)), len(rows)]
    for i, (lo, hi) in enumerate(itertools.pairwise(edges)):
        store.write(rows[lo:hi])
        if refresh_between and i % 2 == 0:
            refresh(store, chunk=97)  # small chunks: many transactions, groups split across them


# --- the ground truth ----------------------------------------------------------------------------


def stored(store: Store) -> list[dict[str, Any]]:
    cols = [
        "type", "action", "event_time", "course_number", "user_uuid", "user_pk", "actor_id", "session_id",
        "assessment_pk", "question_pk", "attempt_pk", "gradable_item_pk", "score", "max_score", "grade_action",
        "question_type", "object_id", "source", "id",
    ]
    return [dict(zip(cols, r, strict=True)) for r in store.query(f"SELECT {', '.join(cols)} FROM event_view")]


def when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def user_of(e: dict[str, Any]) -> str:
    return e["user_uuid"] or e["user_pk"] or e["actor_id"] or ""


def p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[math.ceil(0.9 * len(ordered)) - 1]


def truth_activity(events: list[dict[str, Any]], tz: str) -> dict[str, dict[tuple[Any, ...], tuple[Any, ...]]]:
    zone = ZoneInfo(tz)
    groups: dict[str, dict[tuple[Any, ...], list[Any]]] = {k: defaultdict(lambda: [0, set(), set(), set()]) for k in ("course", "day", "hour", "user")}
    for e in events:
        course = e["course_number"] or "(no course)"
        local = when(e["event_time"]).astimezone(zone)
        day = local.date().isoformat()
        user, session = user_of(e), e["session_id"] or ""
        keys = {"course": (course,), "day": (course, day), "hour": (course, local.weekday(), local.hour)}
        if user:
            keys["user"] = (course, user)
        for kind, key in keys.items():
            g = groups[kind][key]
            g[0] += 1
            if user:
                g[1].add(user)
            if session:
                g[2].add(session)
            g[3].add(day)
    return {kind: {k: (v[0], len(v[1]), len(v[2]), len(v[3])) for k, v in g.items()} for kind, g in groups.items()}


def truth_tests(events: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    found: dict[tuple[str, str], dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for e in events:
        if e["type"] == "AssessmentEvent" and e["assessment_pk"]:
            attempt = e["attempt_pk"] or "user:" + user_of(e)
            found[(e["course_number"], e["assessment_pk"])][attempt].append(e)
    out = {}
    for key, by_attempt in found.items():
        started = submitted = abandoned = 0
        spent = []
        for evs in by_attempt.values():
            starts = [x["event_time"] for x in evs if x["action"] == "Started"]
            ends = [x["event_time"] for x in evs if x["action"] in ("Submitted", "Completed")]
            started += bool(starts)
            submitted += bool(ends)
            abandoned += bool(starts) and not ends
            if starts and ends:
                spent.append((when(max(ends)) - when(min(starts))).total_seconds())
        out[key] = {
            "started": started,
            "submitted": submitted,
            "abandoned": abandoned,
            "median_submit_seconds": round(median(spent), 3) if spent else None,
            "p90_submit_seconds": round(p90(spent), 3) if spent else None,
        }
    return out


def truth_scores(events: list[dict[str, Any]]) -> dict[tuple[str, str], int]:
    """Graded attempts per test: attempts with a scoring grade event and no delete."""
    attempts_of: dict[tuple[str, str], set[tuple[str, str]]] = defaultdict(set)
    for e in events:
        if e["type"] == "AssessmentEvent" and e["assessment_pk"] and e["attempt_pk"]:
            attempts_of[(e["course_number"], e["assessment_pk"])].add((e["gradable_item_pk"], e["attempt_pk"]))
    scored, deleted = set(), set()
    for e in events:
        if e["type"] in ("GradeEvent", "OutcomeEvent") and e["attempt_pk"]:
            action = e["grade_action"] or ""
            key = (e["gradable_item_pk"], e["attempt_pk"])
            if action.endswith(".delete"):
                deleted.add(key)
            elif e["score"] is not None and "feedback" not in action:
                scored.add(key)
    return {test: len((a & scored) - deleted) for test, a in attempts_of.items()}


def truth_questions(events: list[dict[str, Any]]) -> dict[tuple[str, str, str], tuple[int, int, float | None]]:
    found: dict[tuple[str, str, str], dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
    for e in events:
        if e["type"] == "AssessmentItemEvent" and e["question_pk"]:
            attempt = e["attempt_pk"] or "user:" + user_of(e)
            found[(e["course_number"], e["assessment_pk"], e["question_pk"])][attempt].append(e)
    out = {}
    for key, by_attempt in found.items():
        starts_n = ends_n = 0
        spent = []
        for evs in by_attempt.values():
            starts = [x["event_time"] for x in evs if x["action"] == "Started"]
            ends = [x["event_time"] for x in evs if x["action"] in ("Submitted", "Completed")]
            starts_n += bool(starts)
            ends_n += bool(ends)
            if starts and ends:
                spent.append((when(max(ends)) - when(min(starts))).total_seconds())
        out[key] = (starts_n, ends_n, round(median(spent), 3) if spent else None)
    return out


def check_against_truth(store: Store, tz: str) -> None:
    events = stored(store)
    truth = truth_activity(events, tz)
    got = {(r["course_number"],): (r["events"], r["users"], r["sessions"], r["active_days"]) for r in activity(store)}
    assert got == truth["course"]
    got = {(r["course_number"], r["day"]): (r["events"], r["users"], r["sessions"]) for r in activity(store, by="day")}
    assert got == {k: v[:3] for k, v in truth["day"].items()}
    weekdays = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    got = {(r["course_number"], weekdays.index(r["weekday"]), r["hour"]): (r["events"], r["users"], r["sessions"]) for r in activity(store, by="hour")}
    assert got == {k: v[:3] for k, v in truth["hour"].items()}
    got = {(r["course_number"], r["user_key"]): (r["events"], r["sessions"], r["active_days"]) for r in activity(store, by="user")}
    assert got == {k: (v[0], v[2], v[3]) for k, v in truth["user"].items()}

    tests = {(r["course_number"], r["assessment_pk"]): {k: r[k] for k in ("started", "submitted", "abandoned", "median_submit_seconds", "p90_submit_seconds")} for r in funnel(store)}
    assert tests == truth_tests(events)
    assert tests, "the simulated term has tests"
    graded = {(r["course_number"], r["assessment_pk"]): r["graded"] for r in funnel(store)}
    assert graded == truth_scores(events)
    histogram: dict[tuple[str, str], int] = defaultdict(int)
    for r in scores(store):
        histogram[(r["course_number"], r["assessment_pk"])] += r["attempts"]
    assert histogram == graded
    questions = {(r["course_number"], r["assessment_pk"], r["question_pk"]): (r["attempts"], r["completed"], r["median_seconds"]) for r in items(store)}
    assert questions == truth_questions(events)
    views = defaultdict(int)
    for e in events:
        if e["type"] == "ViewEvent":
            views[e["course_number"] or "(no course)"] += 1
    got_views: dict[str, int] = defaultdict(int)
    for r in content(store):
        got_views[r["course_number"]] += r["views"]
    assert got_views == views
    per_source = defaultdict(int)
    for e in events:
        per_source[e["source"]] += 1
    assert {r["source"]: r["events"] for r in sources(store)} == per_source


# --- the contract --------------------------------------------------------------------------------


def test_reports_match_the_ground_truth_after_shuffled_late_and_duplicate_delivery(store: Store) -> None:
    rows = list(term_rows())
    rng = random.Random(3)
    late = rng.sample(rows, len(rows) // 5)  # a fifth arrives after everything else (nightly, re-sent)
    late_keys = {r.event_key for r in late}
    early = [r for r in rows if r.event_key not in late_keys]
    again = rng.sample(rows, 40)  # duplicate deliveries: never stored twice, never counted twice
    assert set_time_zone(store, TZ)
    deliver(store, early + late + again, [len(early) // 3, len(early), len(early) + 50], refresh_between=True)
    refresh(store)
    assert time_zone(store) == TZ
    check_against_truth(store, TZ)


@settings(max_examples=3, deadline=None, phases=[Phase.generate], suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**16), cuts=st.lists(st.integers(0, 2000), max_size=5))
def test_incremental_refresh_equals_one_rebuild(store: Store, seed: int, cuts: list[int]) -> None:
    # start from an empty events table: the delete trigger marks the summaries for a rebuild
    store_rows = list(term_rows())
    random.Random(seed).shuffle(store_rows)
    with store.transaction() as cur:
        cur.execute("DELETE FROM events")
    deliver(store, store_rows, [c % len(store_rows) for c in cuts], refresh_between=True)
    refresh(store)
    incremental = {name: REPORTS[name](store) for name in REPORTS if name not in ("gradebook", "sources")}
    with store.transaction() as cur:
        cur.execute("UPDATE an_state SET dirty = 1")
    refresh(store)
    assert {name: REPORTS[name](store) for name in incremental} == incremental
    check_against_truth(store, time_zone(store))


def test_deleting_events_rebuilds_the_summaries(store: Store) -> None:
    store.write(list(term_rows()))
    before = {r["course_number"]: r["events"] for r in activity(store)}
    course = next(c for c in before if c != "(no course)")
    with store.transaction() as cur:
        cur.execute("DELETE FROM events WHERE course_number = " + ("?" if store.dialect == "sqlite" else "%s"), (course,))
    after = {r["course_number"]: r["events"] for r in activity(store)}
    assert course not in after
    assert after == {c: n for c, n in before.items() if c != course}
    assert funnel(store, course=course) == []


def test_sqlite_and_postgresql_give_identical_answers(sqlite_url: str, pg_url: str) -> None:
    answers = []
    for url in (sqlite_url, pg_url):
        s = open_store(url)
        try:
            set_time_zone(s, TZ)
            s.write(list(term_rows()))
            answers.append({name: fn(s) for name, fn in REPORTS.items() if name != "sources"})
            answers[-1]["users"] = activity(s, by="user", user=term_rows()[0].keydata.user_uuid)
            answers[-1]["days"] = activity(s, by="day", since="2026-01-02T05:30:00")
        finally:
            s.close()
    assert answers[0] == answers[1]


def test_days_are_counted_in_the_site_time_zone(store: Store) -> None:
    rows = list(term_rows())
    store.write(rows)
    utc_days = {(r["course_number"], r["day"]): r["events"] for r in activity(store, by="day")}
    assert set_time_zone(store, "Pacific/Kiritimati")  # UTC+14: most evenings are the next day
    assert not set_time_zone(store, "Pacific/Kiritimati")
    shifted = activity(store, by="day")
    assert {(r["course_number"], r["day"]): r["events"] for r in shifted} != utc_days
    check_against_truth(store, "Pacific/Kiritimati")
    with pytest.raises(ValueError, match="unknown time zone"):
        set_time_zone(store, "Mars/Olympus")


def test_filters_that_summaries_cannot_answer_scan_with_the_same_rules(store: Store) -> None:
    store.write(list(term_rows()))
    set_time_zone(store, TZ)
    events = stored(store)
    user = next(user_of(e) for e in events if e["type"] == "AssessmentEvent")
    mine = [e for e in events if user_of(e) == user or e["user_uuid"] == user]
    truth = truth_activity(mine, TZ)
    got = {(r["course_number"], r["day"]): (r["events"], r["users"], r["sessions"]) for r in activity(store, by="day", user=user)}
    assert got == {k: v[:3] for k, v in truth["day"].items()}
    days = sorted({r["day"] for r in activity(store, by="day")})
    window = list(activity(store, by="day", since=days[1], until=days[3]))
    assert {r["day"] for r in window} == set(days[1:3])
    timeline = attempts(store, user=user)
    assert timeline
    assert all(r["user_key"] == user for r in timeline)
    assert [r["started_at"] for r in timeline] == sorted(r["started_at"] for r in timeline)
    per_user = funnel(store, user=user)
    assert sum(r["started"] for r in per_user) == sum(1 for r in timeline if r["started_at"])
    one = items(store, user=user)
    assert one
    assert all(0 < r["attempts"] <= len(timeline) for r in one)


def test_hardest_slowest_and_question_types(store: Store) -> None:
    store.write(list(term_rows()))
    rows = items(store)
    slowest = items(store, order="slowest", limit=3)
    assert [r["median_seconds"] for r in slowest] == sorted((r["median_seconds"] for r in rows if r["median_seconds"] is not None), reverse=True)[:3]
    hardest = items(store, order="hardest")
    rates = [r["completion_rate"] for r in hardest if r["completion_rate"] is not None]
    assert rates == sorted(rates)
    kinds = question_types(store)
    per_type: dict[tuple[str, str], int] = defaultdict(int)
    for r in rows:
        per_type[(r["course_number"], r["question_type"])] += r["attempts"]
    assert {(r["course_number"], r["question_type"]): r["attempts"] for r in kinds} == per_type
    with pytest.raises(ValueError, match="order must be"):
        items(store, order="easiest")


def test_lti_launches_by_tool_and_silent_sources(store: Store) -> None:
    store.write(list(term_rows()))
    launches = lti(store)
    assert launches
    assert all(r["tool"] and "?" not in r["tool"] for r in launches)
    raw_launches = store.query("SELECT count(*) FROM events WHERE type LIKE '%LTIEvent' AND action = 'LoggedIn'")[0][0]
    assert sum(r["launches"] for r in launches) == raw_launches
    last = max(e["event_time"] for e in stored(store))
    hours = (when(last) - when("2000-01-01T00:00:00.000Z")).total_seconds() / 3600
    (src,) = sources(store, now="2000-01-01T00:00:00Z", threshold_hours=1)
    assert not src["silent"]
    assert src["hours_since_last_event"] == pytest.approx(-hours, abs=0.01)
    (src,) = sources(store, now=last, threshold_hours=1)
    assert not src["silent"]
    later = datetime.fromtimestamp(when(last).timestamp() + 7200).isoformat() + "+00:00"
    assert sources(store, now=later, threshold_hours=1, silent_only=True)[0]["silent"]
    assert sources(store, now=last, threshold_hours=1, silent_only=True) == []


def test_bi_views_read_the_key_data(store: Store) -> None:
    store.write(list(term_rows()))
    refresh(store)
    (n,) = store.query("SELECT count(*) FROM bi_events")[0]
    assert n == len({r.event_key for r in term_rows()})
    graded = store.query("SELECT count(*) FROM bi_grades WHERE score_pct IS NOT NULL")[0][0]
    assert graded > 0
    attempts_view = store.query("SELECT count(*) FROM bi_test_attempts")[0][0]
    assert attempts_view == len(attempts(store)) > 0
    days = store.query("SELECT sum(events) FROM bi_activity_daily")[0][0]
    assert days == n


def test_attempt_pages_cut_in_the_database_are_the_whole_timeline(store: Store) -> None:
    """`attempts_page` orders and cuts in SQL (by code point on both backends, as Python sorts):
    its pages, in order, are `attempts` whatever the page size and filters."""
    store.write(list(term_rows()))
    events = stored(store)
    user = next(user_of(e) for e in events if e["type"] == "AssessmentEvent")
    whole_site = attempts(store)
    assert len(whole_site) > 20
    course = whole_site[0]["course_number"]
    days = sorted({e["event_time"][:10] for e in events})
    for filters in ({}, {"course": course}, {"user": user}, {"test": whole_site[-1]["assessment_pk"]},
                    {"since": days[1], "until": days[4]}):
        whole = attempts(store, **filters)
        for limit in (1, 6, 5000):
            pages: list[dict[str, Any]] = []
            for offset in range(0, len(whole) + limit, limit):
                page, total = attempts_page(store, limit=limit, offset=offset, **filters)
                assert total == len(whole)
                pages += page
            assert pages == whole, (filters, limit)
