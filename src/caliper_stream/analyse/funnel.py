"""Test funnels: of the users who started a test, how many submitted it and how many were graded.

A test is an assessment pk (``…/assessments/{pk}``); its attempts live under its gradable item
(``…/gradableItems/{pk}``), which is how GradeEvents are linked back to it.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from caliper_stream.analyse._sql import user_key, where
from caliper_stream.store.base import Store

COLUMNS = ["course_number", "assessment_pk", "gradable_item_pk", "started", "submitted", "graded", "submit_rate"]


def funnel(store: Store, course: str | None = None) -> list[dict[str, Any]]:
    """One row per test: distinct users who started, submitted, and got a grade."""
    clauses = ["type = 'AssessmentEvent'", "assessment_pk IS NOT NULL"]
    params: list[Any] = []
    where(clauses, params, "course_number", course)
    sql = f"""
        SELECT course_number, assessment_pk, gradable_item_pk, action, {user_key()}
        FROM events WHERE {" AND ".join(clauses)}
    """
    started: dict[tuple[Any, Any], set[Any]] = defaultdict(set)
    submitted: dict[tuple[Any, Any], set[Any]] = defaultdict(set)
    items: dict[tuple[Any, Any], set[Any]] = defaultdict(set)
    for course_number, assessment, item, action, user in store.stream(sql, params):
        key = (course_number, assessment)
        if item:
            items[key].add(item)
        if action in ("Started", "Restarted"):
            started[key].add(user)
        elif action in ("Submitted", "Completed"):
            submitted[key].add(user)
    graded_by_item: dict[Any, set[Any]] = defaultdict(set)
    grade_sql = f"""
        SELECT gradable_item_pk, {user_key()} FROM events
        WHERE type IN ('GradeEvent', 'OutcomeEvent') AND gradable_item_pk IS NOT NULL
    """
    for item, user in store.stream(grade_sql):
        graded_by_item[item].add(user)
    out = []
    for key in sorted(set(started) | set(submitted), key=lambda k: (str(k[0]), str(k[1]))):
        users = started[key] | submitted[key]
        graded = set().union(*(graded_by_item[i] for i in items[key])) & users if items[key] else set()
        n_started = len(started[key] or users)
        out.append(
            dict(
                zip(
                    COLUMNS,
                    [
                        key[0],
                        key[1],
                        ",".join(sorted(items[key])) or None,
                        n_started,
                        len(submitted[key]),
                        len(graded),
                        round(len(submitted[key]) / n_started, 3) if n_started else None,
                    ],
                    strict=True,
                )
            )
        )
    return out
