"""The figures of a test, a question or a question type, from its attempt rows.

One function per kind, used both when a refresh caches the figures of a whole group and when a
filtered report (one user, a time window) recomputes them, so both answers agree by construction.

Definitions (docs/analytics.md): the median is the middle value (the mean of the two middle ones
for an even count); p90 is the nearest-rank 90th percentile (the smallest value with at least
90 % of the values at or below it). Durations are seconds between the first start and the last
submission of one attempt; negative ones (clock skew) are left out.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from statistics import median
from typing import Any

#: test attempts: course, assessment, user, started, submitted, score, max score, deleted,
#: gradable item, attempt
TEST_ROWS = """
    SELECT a.course_number, a.assessment_pk, a.user_key, a.started_at, a.submitted_at, s.score,
           s.max_score, s.deleted, a.gradable_item_pk, a.attempt_key
    FROM an_test_attempts AS a
    LEFT JOIN an_scores AS s ON s.gradable_item_pk = a.gradable_item_pk AND s.attempt_pk = a.attempt_key
"""
#: question attempts: course, assessment, question, type, user, started, completed, attempt
QUESTION_ROWS = """
    SELECT course_number, assessment_pk, question_pk, question_type, user_key, started_at, completed_at,
           attempt_key
    FROM an_question_attempts
"""
#: score histogram buckets: percent of max score in tenths, 100 % in the last one
BUCKETS = 10


def group(
    rows: Iterable[Sequence[Any]], key: Callable[[Sequence[Any]], tuple[Any, ...]]
) -> dict[tuple[Any, ...], list[Sequence[Any]]]:
    out: dict[tuple[Any, ...], list[Sequence[Any]]] = {}
    for r in rows:
        out.setdefault(key(r), []).append(r)
    return out


def _when(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def seconds(start: str | None, end: str | None) -> float | None:
    """Seconds from `start` to `end` (Caliper times), None when either is missing or unreadable."""
    if not start or not end:
        return None
    a, b = _when(start), _when(end)
    if a is None or b is None:
        return None
    return (b - a).total_seconds()


def p90(values: Sequence[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


def _mid(values: Sequence[float]) -> float | None:
    return round(median(values), 3) if values else None


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def test_figures(rows: Sequence[Sequence[Any]]) -> dict[str, Any]:
    """Started, submitted and abandoned attempts, time to submit and the score distribution."""
    started = submitted = abandoned = graded = 0
    users: set[str] = set()
    durations: list[float] = []
    pcts: list[float] = []
    histogram = [0] * BUCKETS
    item = ""
    for _c, _a, user, start, submit, score, max_score, deleted, gradable, _attempt in rows:
        item = item or gradable or ""
        if user:
            users.add(user)
        if start:
            started += 1
            if not submit:
                abandoned += 1
        if submit:
            submitted += 1
        spent = seconds(start, submit)
        if spent is not None and spent >= 0:
            durations.append(spent)
        if score is not None and not deleted:
            graded += 1
            if max_score:
                pct = 100.0 * float(score) / float(max_score)
                pcts.append(pct)
                histogram[min(BUCKETS - 1, max(0, int(pct // (100 / BUCKETS))))] += 1
    return {
        "gradable_item_pk": item or None,
        "users": len(users),
        "started": started,
        "submitted": submitted,
        "abandoned": abandoned,
        "submit_rate": _rate(submitted, started),
        "median_submit_seconds": _mid(durations),
        "p90_submit_seconds": _r(p90(durations)),
        "graded": graded,
        "median_score_pct": _mid(pcts),
        "score_histogram": histogram,
    }


def question_figures(rows: Sequence[Sequence[Any]]) -> dict[str, Any]:
    """Attempts, completion rate and time on question (rows of `QUESTION_ROWS`)."""
    attempts = completed = 0
    qtype = ""
    durations: list[float] = []
    for _c, _a, _q, kind, _u, start, end, _attempt in rows:
        qtype = qtype or kind or ""
        if start:
            attempts += 1
        if end:
            completed += 1
        spent = seconds(start, end)
        if spent is not None and spent >= 0:
            durations.append(spent)
    return {
        "question_type": qtype or None,
        "attempts": attempts,
        "completed": completed,
        "completion_rate": _rate(min(completed, attempts), attempts),
        "median_seconds": _mid(durations),
        "p90_seconds": _r(p90(durations)),
        "max_seconds": _r(max(durations)) if durations else None,
    }


def by_question_type(rows: Iterable[Sequence[Any]]) -> dict[tuple[Any, ...], list[Sequence[Any]]]:
    """Question attempt rows grouped by (course, question type), a question's type being the one
    any of its attempts reported (an attempt only started carries none)."""
    rows = list(rows)
    kind: dict[tuple[Any, Any, Any], str] = {}
    for r in rows:
        if r[3]:
            kind.setdefault((r[0], r[1], r[2]), r[3])
    return group(rows, lambda r: (r[0], kind.get((r[0], r[1], r[2]), "")))
