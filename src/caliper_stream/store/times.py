"""Event times as SQLite stores them: whole milliseconds since 1970 when the text is exactly the
canonical ``YYYY-MM-DDTHH:MM:SS.mmmZ`` of that instant, else the text as sent.

Five of the seven indexes of ``events`` end in ``event_time``; a 24-byte ISO string there is a
6-byte integer as milliseconds (docs/storage.md, "Times and keys"). Only times that come back
as the same text are converted, so a reader sees every time exactly as it was stored before:
``event_view`` formats the integers again (`VIEW_FORMAT`), code that reads ``events`` itself
calls `time_text`. A stored time is compared with `bound_key` of a bound: integers sort by
instant, as canonical texts did, and SQLite sorts every text after every integer, so an odd
time (not canonical, or not a time) never falls inside a range of times.

PostgreSQL keeps the text (its month partitions are ranges of it); `SQLStore.time_key` and
`SQLStore.time_text` are the identity there.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_parse = datetime.fromisoformat
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
#: the SQL function migration 0016 converts stored times with (`time_key`, registered by the
#: store on its write connection)
STORED_TIME = "caliper_stored_time"
#: SQLite's expression that gives a stored time (``{0}``) back as the text it was
VIEW_FORMAT = (
    "CASE WHEN typeof({0}) = 'integer' THEN strftime('%Y-%m-%dT%H:%M:%fZ', {0} / 1000.0, 'unixepoch')"
    " ELSE {0} END"
)


def time_key(value: str | None) -> int | str | None:
    """How SQLite stores `value`: its milliseconds since 1970 if `value` is canonical, else itself.
    (This runs for every time stored: the shape is tested in one expression, ~0.15 µs less than
    a loop, before the parse.)"""
    if (
        value is None or len(value) != 24 or value[4] != "-" or value[7] != "-" or value[10] != "T"
        or value[13] != ":" or value[16] != ":" or value[19] != "." or value[23] != "Z"
    ):
        return value
    try:
        parsed = _parse(value)
    except ValueError:  # the right shape, not a real instant (month 13, 25 o'clock, second 60)
        return value
    return (parsed - _EPOCH) // _MS


def day_sql(dialect: str, column: str = "event_time") -> str:
    """SQL for the ``YYYY-MM-DD`` of a time column of ``events`` (the first ten characters of
    its text). Aggregates over ``events`` use it: SQLite keeps ``event_view``'s joins in a
    ``GROUP BY``, and a scan of the covering ``events_time`` index becomes one of the table."""
    if dialect != "sqlite":
        return f"substr({column}, 1, 10)"
    return (
        f"CASE WHEN typeof({column}) = 'integer' THEN date({column} / 1000.0, 'unixepoch')"
        f" ELSE substr({column}, 1, 10) END"
    )


def bound_key(value: str) -> int | str:
    """What a stored time is compared with for the bound `value`: a date (``YYYY-MM-DD``) is
    its midnight, as the text compared before; a canonical time its `time_key`."""
    if len(value) == 10 and value[4] == "-" and value[7] == "-":
        key = time_key(value + "T00:00:00.000Z")
        if isinstance(key, int):
            return key
    key = time_key(value)
    return value if key is None else key


def bound(dialect: str, value: str) -> int | str:
    """`bound_key` where times are integers (SQLite), else `value` itself."""
    return bound_key(value) if dialect == "sqlite" else value


def time_text(value: int | str | None) -> str | None:
    """The text a stored time was: `time_key` undone."""
    if value is None or isinstance(value, str):
        return value
    m = _EPOCH + value * _MS  # (strftime's %Y would drop the zeros of a year before 1000)
    return f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}.{m.microsecond // 1000:03d}Z"
