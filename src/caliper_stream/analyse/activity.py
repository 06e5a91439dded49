"""Activity: events, active users and sessions per course, day, hour of the week and user;
LTI launches by tool; content views; and sources that went silent.

Answers come from the summaries (`caliper_stream.analyse.summary`); a filter they cannot
answer (one user's days, a time window other than whole days) scans the matching events with
the same counting rules. Days and hours of the week are counted in the site's time zone.
Events without a course are labelled ``(no course)``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from caliper_stream.analyse._sql import (
    WEEKDAYS,
    caliper_time,
    course_label,
    instant,
    where,
    where_course,
    where_user,
    zone,
)
from caliper_stream.analyse.summary import LocalTime, ensure_current, scan, time_zone
from caliper_stream.store.base import Store
from caliper_stream.store.times import day_sql

GROUPINGS = {"course": "course", "day": "day", "hour": "how", "user": "user"}
_USERS = "COUNT(DISTINCT NULLIF(a.user_key, ''))"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_COUNT_COLUMNS = (
    "c.course_number, c.bucket, c.events, c.users, c.sessions, c.days, c.first_time, c.last_time"
)


def activity(
    store: Store,
    *,
    course: str | None = None,
    user: str | None = None,
    since: str | None = None,
    until: str | None = None,
    by: str = "course",
) -> list[dict[str, Any]]:
    """Events, active users and sessions grouped ``by`` course, day, hour (of the week) or user.

    course: events, users, sessions, active days, first and last event; day: per course and
    local day; hour: per course, weekday and local hour, summed over the weeks; user: per course
    and user, events, sessions, active days, first and last event. Days and hours are in the
    site's time zone (`caliper_stream.analyse.summary.set_time_zone`).
    """
    if by not in GROUPINGS:
        raise ValueError(f"by must be one of {', '.join(GROUPINGS)}")
    ensure_current(store)
    kind = GROUPINGS[by]
    tz = zone(time_zone(store))
    whole_days = all(v is None or _DATE.match(v) for v in (since, until))
    summarised = (user is None or by == "user") and (
        (since is None and until is None) or (by == "day" and whole_days)
    )
    # one user's courses (the student page) are their per-user groups
    one_user = by == "course" and user is not None and since is None and until is None
    found = _user_courses(store, course, user) if one_user and user is not None else None
    if found is None and summarised:
        clauses: list[str] = ["c.kind = ?"]
        params: list[Any] = [kind]
        where_course(clauses, params, "c.course_number", course)
        where_user(clauses, params, "c.bucket", user)
        where(clauses, params, "c.bucket", since, ">=")
        where(clauses, params, "c.bucket", until, "<")
        found = store.query(
            f"SELECT {_COUNT_COLUMNS} FROM an_counts AS c WHERE {' AND '.join(clauses)}"
            " ORDER BY c.course_number, c.bucket",
            params,
        )
    elif found is None:
        found = scan(
            store,
            LocalTime(tz),
            course=course,
            user=user,
            since=caliper_time(since, tz),
            until=caliper_time(until, tz),
            kind=kind,
        )
    if by == "course":
        return [
            {
                "course_number": course_label(c),
                "events": n,
                "users": u,
                "sessions": s,
                "active_days": d,
                "first_seen": f,
                "last_seen": last,
            }
            for c, _, n, u, s, d, f, last in found
        ]
    if by == "day":
        return [
            {"course_number": course_label(c), "day": b, "events": n, "users": u, "sessions": s}
            for c, b, n, u, s, _, _, _ in found
        ]
    if by == "hour":
        return [
            {
                "course_number": course_label(c),
                "weekday": WEEKDAYS[int(b) // 24],
                "hour": int(b) % 24,
                "events": n,
                "users": u,
                "sessions": s,
            }
            for c, b, n, u, s, _, _, _ in found
        ]
    names = (
        {
            k: (uuid, pk, ext)
            for k, uuid, pk, ext in store.query(
                "SELECT user_key, user_uuid, user_pk, user_external_id FROM an_users"
            )
        }
        if found
        else {}
    )
    out = []
    for c, b, n, _, s, d, f, last in found:
        uuid, pk, ext = names.get(b, (None, None, None))
        out.append(
            {
                "course_number": course_label(c),
                "user_key": b,
                "user_uuid": uuid,
                "user_pk": pk,
                "user_external_id": ext,
                "events": n,
                "sessions": s,
                "active_days": d,
                "first_seen": f,
                "last_seen": last,
            }
        )
    return out


def _user_courses(store: Store, course: str | None, user: str) -> list[tuple[Any, ...]] | None:
    """One user's activity per course, from the per-user groups of ``an_counts`` (shaped like
    the course groups: one user); None when the filter names several users, which only a scan
    can merge exactly."""
    clauses: list[str] = ["c.kind = 'user'"]
    params: list[Any] = []
    where_course(clauses, params, "c.course_number", course)
    where_user(clauses, params, "c.bucket", user)
    found = store.query(
        f"SELECT {_COUNT_COLUMNS} FROM an_counts AS c WHERE {' AND '.join(clauses)}"
        " ORDER BY c.course_number, c.bucket",
        params,
    )
    if len({r[1] for r in found}) > 1:
        return None
    return [(c, "", n, 1, s, d, f, last) for c, _, n, _, s, d, f, last in found]


def _per_item(
    store: Store, kind: str, table: str, count: str, course: str | None, user: str | None
) -> list[tuple[Any, ...]]:
    """(course, item, events, users, first, last) per item, most events first within a course:
    from ``an_counts``, or for one user from the per-user table."""
    clauses: list[str] = []
    params: list[Any] = []
    if user is None:
        clauses.append("c.kind = ?")
        params.append(kind)
        where_course(clauses, params, "c.course_number", course)
        sql = f"""SELECT c.course_number, c.bucket, c.events, c.users, c.first_time, c.last_time
                  FROM an_counts AS c WHERE {" AND ".join(clauses)} ORDER BY c.course_number, c.events DESC, c.bucket"""
    else:
        clauses.append("1 = 1")
        where_course(clauses, params, "a.course_number", course)
        where_user(clauses, params, "a.user_key", user)
        item = "tool" if table == "an_lti" else "content_id"
        sql = f"""SELECT a.course_number, a.{item}, SUM(a.{count}) AS n, {_USERS}, MIN(a.first_time), MAX(a.last_time)
                  FROM {table} AS a WHERE {" AND ".join(clauses)} GROUP BY a.course_number, a.{item}
                  ORDER BY a.course_number, n DESC, a.{item}"""
    return store.query(sql, params)


def lti(
    store: Store, *, course: str | None = None, user: str | None = None
) -> list[dict[str, Any]]:
    """LTI launches per course and tool (the launch URL's host and path): launches, users, first, last."""
    ensure_current(store)
    return [
        {
            "course_number": course_label(c),
            "tool": t or None,
            "launches": int(n),
            "users": u,
            "first_launch": f,
            "last_launch": last,
        }
        for c, t, n, u, f, last in _per_item(store, "lti", "an_lti", "launches", course, user)
    ]


def content(
    store: Store, *, course: str | None = None, user: str | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    """Content views per course and content item (most viewed first; ``limit`` per course):
    views, viewers, first and last view."""
    ensure_current(store)
    out = []
    per_course: dict[str, int] = {}
    for c, cid, n, u, f, last in _per_item(store, "content", "an_views", "views", course, user):
        seen = per_course.get(c, 0)
        if limit is not None and seen >= limit:
            continue
        per_course[c] = seen + 1
        pk = cid.rsplit("/content/", 1)[1] if "/content/" in cid else None
        out.append(
            {
                "course_number": course_label(c),
                "content_id": cid,
                "content_pk": pk,
                "views": int(n),
                "viewers": u,
                "first_view": f,
                "last_view": last,
            }
        )
    return out


def sources(
    store: Store,
    *,
    threshold_hours: float = 24.0,
    silent_only: bool = False,
    now: str | None = None,
) -> list[dict[str, Any]]:
    """Every source with its last event; ``silent`` when that eventTime is older than the
    threshold (a Learn that stopped sending, or deliveries that are being lost)."""
    ensure_current(store)
    at = instant(now, UTC) if now else datetime.now(UTC)
    out = []
    for src, n, last_event, last_received in store.query(
        "SELECT source, events, last_event_time, last_received_at FROM an_sources ORDER BY source"
    ):
        quiet = None
        if last_event:
            try:
                quiet = round((at - instant(last_event, UTC)).total_seconds() / 3600, 2)
            except ValueError:
                quiet = None
        silent = quiet is None or quiet > threshold_hours
        if silent_only and not silent:
            continue
        out.append(
            {
                "source": src or None,
                "events": int(n),
                "last_event_time": last_event or None,
                "last_received_at": last_received or None,
                "hours_since_last_event": quiet,
                "silent": silent,
            }
        )
    return out


_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def daily(
    store: Store, *, course: str | None = None, since: str | None = None, until: str | None = None
) -> list[dict[str, Any]]:
    """Events per UTC day of eventTime, by source and type (the read API's ``/api/daily``).
    Whole days (``since``/``until`` as ``YYYY-MM-DD``, compared with the stored eventTime) are
    answered from ``an_daily``; a bound inside a day counts the matching events directly."""
    whole_days = all(v is None or _DAY.fullmatch(v) for v in (since, until))
    if whole_days and course != "":
        ensure_current(store)
        clauses: list[str] = ["1 = 1"]
        params: list[Any] = []
        where(clauses, params, "course_number", course)
        where(clauses, params, "day", since, ">=")
        where(clauses, params, "day", until, "<")
        sql = (
            f"SELECT day, source, type, SUM(events) FROM an_daily WHERE {' AND '.join(clauses)}"
            " GROUP BY day, source, type"
        )
        found = [(d, s or None, t or None, n) for d, s, t, n in store.query(sql, params)]
    else:
        # `events` itself: an aggregate over event_view would keep its joins (store/times.py)
        clauses, params = ["event_time IS NOT NULL"], list[Any]()
        where(clauses, params, "course_number", course)
        where(clauses, params, "event_time", None if since is None else store.time_key(since), ">=")
        where(clauses, params, "event_time", None if until is None else store.time_key(until), "<")
        day = day_sql(store.dialect)
        sql = (
            f"SELECT {day} AS day, source, type, COUNT(*) FROM events"
            f" WHERE {' AND '.join(clauses)} GROUP BY day, source, type"
        )
        found = store.query(sql, params)
    found.sort(key=lambda r: (r[0], r[1] or "", r[2] or ""))
    return [{"day": d, "source": s, "type": t, "events": int(n)} for d, s, t, n in found]
