"""Activity per course or per user: events, distinct users and sessions, first and last seen.

The day is the UTC date of ``eventTime`` (its first ten characters: times are stored in
Caliper's ``YYYY-MM-DDTHH:MM:SS.mmmZ`` form).
"""

from __future__ import annotations

from typing import Any

from caliper_stream.analyse._sql import rows, user_key, where
from caliper_stream.store.base import Store


def activity(
    store: Store,
    course: str | None = None,
    user: str | None = None,
    by: str = "course",
    since: str | None = None,
    until: str | None = None,
) -> list[dict[str, Any]]:
    """Counts grouped by course (``by="course"``), by user (``"user"``) or by course and day (``"day"``)."""
    groups = {
        "course": ["course_number"],
        "user": ["course_number", "user_uuid", "user_pk", "user_external_id"],
        "day": ["course_number", "SUBSTR(event_time, 1, 10)"],
    }
    if by not in groups:
        raise ValueError(f"by must be one of {', '.join(groups)}")
    cols = groups[by]
    clauses: list[str] = ["1 = 1"]
    params: list[Any] = []
    where(clauses, params, "course_number", course)
    where(clauses, params, "event_time", since, ">=")
    where(clauses, params, "event_time", until, "<")
    if user is not None:
        clauses.append("(user_uuid = ? OR user_pk = ? OR user_external_id = ?)")
        params += [user, user, user]
    sql = f"""
        SELECT {", ".join(cols)}, COUNT(*), COUNT(DISTINCT {user_key()}), COUNT(DISTINCT session_id),
               MIN(event_time), MAX(event_time)
        FROM events WHERE {" AND ".join(clauses)}
        GROUP BY {", ".join(cols)}
        ORDER BY {", ".join(cols)}
    """
    names = [c if c != "SUBSTR(event_time, 1, 10)" else "day" for c in cols]
    return rows(store, sql, params, [*names, "events", "users", "sessions", "first_seen", "last_seen"])
