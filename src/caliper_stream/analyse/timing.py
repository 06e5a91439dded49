"""Per-question timings: how long students spend on each question of a test.

Learn sends an AssessmentItemEvent *Started* and *Completed* per question and attempt; the time
between the two (same user, question and attempt) is the time spent. Pairs missing either end
are counted but not timed.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from statistics import median
from typing import Any

from caliper_stream.analyse._sql import user_key, where
from caliper_stream.store.base import Store

COLUMNS = [
    "course_number",
    "assessment_pk",
    "question_pk",
    "question_type",
    "started",
    "completed",
    "median_seconds",
    "mean_seconds",
    "max_seconds",
]


def _when(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def item_timings(store: Store, course: str | None = None, assessment: str | None = None) -> list[dict[str, Any]]:
    """One row per question: starts, completions and time-to-complete statistics."""
    clauses = ["type = 'AssessmentItemEvent'", "question_pk IS NOT NULL"]
    params: list[Any] = []
    where(clauses, params, "course_number", course)
    where(clauses, params, "assessment_pk", assessment)
    sql = f"""
        SELECT course_number, assessment_pk, question_pk, question_type, action, event_time,
               {user_key()}, attempt_pk
        FROM events WHERE {" AND ".join(clauses)}
    """
    starts: dict[tuple[Any, ...], datetime] = {}
    ends: dict[tuple[Any, ...], datetime] = {}
    counts: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0])
    types: dict[tuple[Any, ...], str] = {}
    for course_number, assessment_pk, question, qtype, action, at, user, attempt in store.stream(sql, params):
        q = (course_number, assessment_pk, question)
        pair = (*q, user, attempt)
        when = _when(at)
        if qtype:
            types[q] = qtype
        if action == "Started":
            counts[q][0] += 1
            if when is not None:
                starts[pair] = min(when, starts.get(pair, when))
        elif action in ("Completed", "Submitted"):
            counts[q][1] += 1
            if when is not None:
                ends[pair] = max(when, ends.get(pair, when))
    spent: dict[tuple[Any, ...], list[float]] = defaultdict(list)
    for pair, start in starts.items():
        end = ends.get(pair)
        if end is not None and end >= start:
            spent[pair[:3]].append((end - start).total_seconds())
    out = []
    for q in sorted(counts, key=lambda k: tuple(str(p) for p in k)):
        times = spent.get(q, [])
        stats = [round(median(times), 3), round(sum(times) / len(times), 3), round(max(times), 3)] if times else [None] * 3
        out.append(dict(zip(COLUMNS, [*q, types.get(q), *counts[q], *stats], strict=True)))
    return out
