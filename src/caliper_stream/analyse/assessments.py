"""Tests and questions: funnels, score distributions, time on question, attempt timelines.

Learn sends an AssessmentEvent when a student starts and submits a test attempt and an
AssessmentItemEvent when they start and complete each question (seed: Assessment Events). A
test is an assessment pk (``…/assessments/{pk}``); its attempts live under its gradable item
(``…/gradableItems/{pk}/attempts/{pk}``), which is how a GradeEvent's score is matched to the
attempt. Unfiltered answers come from the figures cached at refresh; a user or time filter
recomputes them from the attempt rows with the same functions (`caliper_stream.analyse.figures`).
since/until select attempts by their start (else their submission).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from caliper_stream.analyse import figures
from caliper_stream.analyse._sql import (
    NO_COURSE,
    caliper_time,
    course_label,
    where,
    where_course,
    where_user,
    zone,
)
from caliper_stream.analyse.summary import ensure_current, time_zone
from caliper_stream.store.base import Store

ORDERS = ("hardest", "slowest")
_decode = msgspec.json.Decoder(dict[str, Any]).decode


def _cached(
    store: Store, kind: str, course: str | None, test: str | None
) -> list[tuple[str, str, str, dict[str, Any]]]:
    clauses, params = ["kind = ?"], [kind]
    where_course(clauses, params, "course_number", course)
    where(clauses, params, "assessment_pk", test)
    sql = f"""SELECT course_number, assessment_pk, item_key, figures FROM an_figures WHERE {" AND ".join(clauses)}
              ORDER BY course_number, assessment_pk, item_key"""
    return [(c, a, k, _decode(f)) for c, a, k, f in store.query(sql, params)]


def _attempt_rows(
    store: Store,
    base: str,
    prefix: str,
    start: str,
    end: str,
    *,
    course: str | None,
    user: str | None,
    test: str | None,
    since: str | None,
    until: str | None,
    tail: str = "",
    tail_params: Sequence[Any] = (),
) -> list[tuple[Any, ...]]:
    """`base` rows under the filters (`tail`: SQL after the WHERE clause, e.g. ORDER BY … LIMIT)."""
    tz = zone(time_zone(store))
    clauses: list[str] = ["1 = 1"]
    params: list[Any] = []
    where_course(clauses, params, f"{prefix}course_number", course)
    where_user(clauses, params, f"{prefix}user_key", user)
    where(clauses, params, f"{prefix}assessment_pk", test)
    when = f"COALESCE({prefix}{start}, {prefix}{end})"
    where(clauses, params, when, caliper_time(since, tz), ">=")
    where(clauses, params, when, caliper_time(until, tz), "<")
    return store.query(f"{base} WHERE {' AND '.join(clauses)}{tail}", [*params, *tail_params])


def _test_figures(store: Store, **filters: Any) -> list[tuple[str, str, dict[str, Any]]]:
    if all(filters[k] is None for k in ("user", "since", "until")):
        return [
            (c, a, f) for c, a, _, f in _cached(store, "test", filters["course"], filters["test"])
        ]
    found = _attempt_rows(store, figures.TEST_ROWS, "a.", "started_at", "submitted_at", **filters)
    grouped = figures.group(found, lambda r: (r[0], r[1]))
    return [(c, a, figures.test_figures(rows)) for (c, a), rows in sorted(grouped.items())]


def funnel(
    store: Store,
    *,
    course: str | None = None,
    user: str | None = None,
    test: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> list[dict[str, Any]]:
    """One row per test: users, attempts started / submitted / abandoned (started, not yet
    submitted), time to submit (median, p90 seconds), attempts graded and the median score %."""
    ensure_current(store)
    out = []
    for c, a, f in _test_figures(
        store, course=course, user=user, test=test, since=since, until=until
    ):
        f.pop("score_histogram")
        out.append({"course_number": course_label(c), "assessment_pk": a, **f})
    return out


def scores(
    store: Store,
    *,
    course: str | None = None,
    user: str | None = None,
    test: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> list[dict[str, Any]]:
    """The score distribution of each test: graded attempts per tenth of the max score (the
    current score of each attempt, deleted attempts left out; 100 % counts in 90–100)."""
    ensure_current(store)
    out = []
    width = 100 // figures.BUCKETS
    for c, a, f in _test_figures(
        store, course=course, user=user, test=test, since=since, until=until
    ):
        for i, n in enumerate(f["score_histogram"]):
            out.append(
                {
                    "course_number": course_label(c),
                    "assessment_pk": a,
                    "gradable_item_pk": f["gradable_item_pk"],
                    "from_pct": i * width,
                    "to_pct": (i + 1) * width,
                    "attempts": n,
                }
            )
    return out


def items(
    store: Store,
    *,
    course: str | None = None,
    user: str | None = None,
    test: str | None = None,
    question: str | None = None,
    since: str | None = None,
    until: str | None = None,
    order: str | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """One row per question: attempts, completed, completion rate, time on question (median,
    p90, max seconds). ``order="hardest"``: lowest completion rate first (then slowest);
    ``"slowest"``: longest median time first; ``limit`` keeps the first rows."""
    if order is not None and order not in ORDERS:
        raise ValueError(f"order must be one of {', '.join(ORDERS)}")
    ensure_current(store)
    if all(v is None for v in (user, since, until)):
        found = [
            (c, a, q, f)
            for c, a, q, f in _cached(store, "question", course, test)
            if question in (None, q)
        ]
    else:
        rows = _attempt_rows(
            store,
            figures.QUESTION_ROWS,
            "",
            "started_at",
            "completed_at",
            course=course,
            user=user,
            test=test,
            since=since,
            until=until,
        )
        grouped = figures.group(
            (r for r in rows if question in (None, r[2])), lambda r: (r[0], r[1], r[2])
        )
        found = [(c, a, q, figures.question_figures(g)) for (c, a, q), g in sorted(grouped.items())]
    out = [
        {"course_number": course_label(c), "assessment_pk": a, "question_pk": q, **f}
        for c, a, q, f in found
    ]
    if order == "hardest":
        out.sort(
            key=lambda r: (
                r["completion_rate"] if r["completion_rate"] is not None else 2.0,
                -(r["median_seconds"] or 0),
            )
        )
    elif order == "slowest":
        out.sort(key=lambda r: -(r["median_seconds"] if r["median_seconds"] is not None else -1.0))
    return out[:limit] if limit is not None else out


def question_types(
    store: Store,
    *,
    course: str | None = None,
    user: str | None = None,
    test: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> list[dict[str, Any]]:
    """Per course and question type (Learn's ``bb:questionType``): attempts, completion, time."""
    ensure_current(store)
    if all(v is None for v in (user, test, since, until)):
        found = [(c, k, f) for c, _, k, f in _cached(store, "qtype", course, "")]
    else:
        rows = _attempt_rows(
            store,
            figures.QUESTION_ROWS,
            "",
            "started_at",
            "completed_at",
            course=course,
            user=user,
            test=test,
            since=since,
            until=until,
        )
        grouped = figures.by_question_type(rows)
        found = [(c, k, figures.question_figures(g)) for (c, k), g in sorted(grouped.items())]
    out = []
    for c, k, f in found:
        f.pop("question_type")
        out.append({"course_number": course_label(c), "question_type": k or None, **f})
    return out


#: The attempt rows with their user's pk1 and batch_uid.
_ATTEMPT_ROWS = figures.TEST_ROWS.replace(
    "FROM an_test_attempts AS a",
    ", u.user_pk, u.user_external_id FROM an_test_attempts AS a LEFT JOIN an_users AS u ON u.user_key = a.user_key",
)


def attempts(
    store: Store,
    *,
    course: str | None = None,
    user: str | None = None,
    test: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> list[dict[str, Any]]:
    """The attempt timeline: every test attempt (of a student, with ``user``) in start order,
    with its time to submit, current score and status (in progress, submitted, graded, deleted)."""
    ensure_current(store)
    found = _attempt_rows(store, _ATTEMPT_ROWS, "a.", "started_at", "submitted_at",
                          course=course, user=user, test=test, since=since, until=until)
    # user, start (else submission), course, test, attempt: the order `attempts_page` sorts in SQL
    found.sort(key=lambda r: (r[2] or "", r[3] or r[4] or "", course_label(r[0]), r[1], r[9]))
    return [_attempt(r) for r in found]


def attempts_page(
    store: Store,
    *,
    limit: int,
    offset: int = 0,
    course: str | None = None,
    user: str | None = None,
    test: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """Rows ``offset`` to ``offset + limit`` of `attempts` and how many there are, ordered and cut
    in the database (a site's timeline at 10 M events: 120,000 attempts; a page: 1,000)."""
    ensure_current(store)
    c = ' COLLATE "C"' if store.dialect == "postgresql" else ""  # Python's order: by code point
    order = (
        f" ORDER BY a.user_key{c}, COALESCE(NULLIF(a.started_at, ''), NULLIF(a.submitted_at, ''), ''){c},"
        f" CASE WHEN a.course_number = '' THEN ? ELSE a.course_number END{c}, a.assessment_pk{c}, a.attempt_key{c}"
        " LIMIT ? OFFSET ?"
    )
    filters: dict[str, Any] = {"course": course, "user": user, "test": test, "since": since, "until": until}
    found = _attempt_rows(store, _ATTEMPT_ROWS, "a.", "started_at", "submitted_at", **filters,
                          tail=order, tail_params=(NO_COURSE, limit, offset))
    total = _attempt_rows(store, "SELECT count(*) FROM an_test_attempts AS a", "a.", "started_at", "submitted_at", **filters)
    return [_attempt(r) for r in found], int(total[0][0])


def _attempt(r: tuple[Any, ...]) -> dict[str, Any]:
    """One `attempts` row from an `_ATTEMPT_ROWS` tuple."""
    c, a, u, start, submit, score, max_score, deleted, item, attempt, pk, ext = r
    status = "deleted" if deleted else "graded" if score is not None else "submitted" if submit else "in progress"
    spent = figures.seconds(start, submit)
    return {
        "user_key": u or None,
        "user_pk": pk,
        "user_external_id": ext,
        "course_number": course_label(c),
        "assessment_pk": a,
        "gradable_item_pk": item or None,
        "attempt_pk": None if attempt.startswith("user:") else attempt,
        "started_at": start,
        "submitted_at": submit,
        "seconds_to_submit": None if spent is None else round(spent, 3),
        "score": score,
        "max_score": max_score,
        "score_pct": round(100.0 * score / max_score, 2) if score is not None and max_score else None,
        "status": status,
    }
