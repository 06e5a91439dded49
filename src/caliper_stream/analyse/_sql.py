"""Small helpers shared by the reports: filters, time zones and rows as dicts."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from caliper_stream.store.base import Store

#: how rows of events without a course are labelled (and how to filter for them)
NO_COURSE = "(no course)"
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def where(clauses: list[str], params: list[Any], column: str, value: Any, op: str = "=") -> None:
    """Add ``column op ?`` to a WHERE clause list when `value` is given."""
    if value is not None:
        clauses.append(f"{column} {op} ?")
        params.append(value)


def where_course(clauses: list[str], params: list[Any], column: str, course: str | None) -> None:
    """Filter on a summary table's course ('' there is `NO_COURSE`)."""
    where(clauses, params, column, "" if course == NO_COURSE else course)


def where_user(clauses: list[str], params: list[Any], column: str, user: str | None) -> None:
    """Filter on a user named by uuid, pk1 (``_12_1``), batch_uid or actor IRI."""
    if user is not None:
        clauses.append(
            f"{column} IN (SELECT user_key FROM an_users WHERE user_key = ? OR user_uuid = ? OR user_pk = ?"
            " OR user_external_id = ?)"
        )
        params += [user] * 4


def rows(store: Store, sql: str, params: list[Any], names: list[str]) -> list[dict[str, Any]]:
    return [dict(zip(names, r, strict=True)) for r in store.query(sql, params)]


def course_label(value: str | None) -> str:
    return value or NO_COURSE


def zone(name: str | None) -> ZoneInfo:
    """A time zone by IANA name (None: UTC)."""
    name = name or "UTC"
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"unknown time zone {name!r} (use an IANA name such as Europe/Berlin)"
        ) from exc


def instant(value: str, tz: tzinfo) -> datetime:
    """A since/until bound: an ISO 8601 time or date; without an offset it is in `tz`."""
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"not an ISO 8601 time or date: {value!r}") from exc
    return when.replace(tzinfo=tz) if when.tzinfo is None else when


def caliper_time(value: str | None, tz: ZoneInfo) -> str | None:
    """A since/until bound as stored times are written (UTC, milliseconds, ``Z``), for comparing text."""
    if value is None:
        return None
    utc = instant(value, tz).astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
