"""The gradebook: the latest grade of every user on every gradable item.

Learn sends a GradeEvent (1.0: OutcomeEvent) for each submission, grading, override, cleared
override and deleted attempt, nightly and often hours late, so the *latest by eventTime* per
user and item is the current grade; ``grade_action`` says which kind of change it was.
"""

from __future__ import annotations

from typing import Any

from caliper_stream.analyse._sql import rows, user_key, where
from caliper_stream.store.base import Store

COLUMNS = [
    "course_number",
    "user_uuid",
    "user_pk",
    "user_external_id",
    "gradable_item_pk",
    "attempt_pk",
    "score",
    "max_score",
    "grade_action",
    "graded_at",
    "grade_events",
]


def gradebook(
    store: Store, course: str | None = None, user: str | None = None
) -> list[dict[str, Any]]:
    """One row per (course, user, gradable item) with the latest score."""
    clauses = ["type IN ('GradeEvent', 'OutcomeEvent')", "gradable_item_pk IS NOT NULL"]
    params: list[Any] = []
    where(clauses, params, "course_number", course)
    if user is not None:
        clauses.append("(user_uuid = ? OR user_pk = ? OR user_external_id = ?)")
        params += [user, user, user]
    sql = f"""
        SELECT course_number, user_uuid, user_pk, user_external_id, gradable_item_pk, attempt_pk,
               score, max_score, grade_action, event_time, n
        FROM (
            SELECT *,
                   ROW_NUMBER() OVER (PARTITION BY course_number, {user_key()}, gradable_item_pk
                                      ORDER BY event_time DESC, id DESC) AS rank,
                   COUNT(*) OVER (PARTITION BY course_number, {user_key()}, gradable_item_pk) AS n
            FROM events WHERE {" AND ".join(clauses)}
        ) AS graded
        WHERE rank = 1
        ORDER BY course_number, user_external_id, user_pk, gradable_item_pk
    """
    return rows(store, sql, params, COLUMNS)
