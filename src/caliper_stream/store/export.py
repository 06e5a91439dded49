"""Streaming export of events or their key data, filtered, in any of the `formats`."""

from __future__ import annotations

from typing import Any, BinaryIO, Literal

import msgspec

from caliper_stream.formats import Column, open_writer
from caliper_stream.keydata import FIELDS
from caliper_stream.store.base import Store

What = Literal["events", "keydata"]


class Filters(msgspec.Struct, frozen=True):
    """Which events to export. Times compare as ISO 8601 text against eventTime: `since` is
    inclusive, `until` exclusive, and a bare date works (``--until 2021-01-06`` ends with
    the 5th). `course` matches the course number or the course pk; `type` the canonical
    event type term (``AssessmentEvent``, ``bb:ContentEvent``)."""

    since: str | None = None
    until: str | None = None
    course: str | None = None
    type: str | None = None


def columns(fmt: str, what: What) -> list[Column]:
    if what == "keydata":
        return [
            Column(f, "float" if f in ("score", "max_score") else "text")
            for f in (*FIELDS, "source", "received_at")
        ]
    if fmt == "jsonl":
        return [Column("event", "event")]  # the event itself, one per line
    return [Column("event_key"), Column("source"), Column("received_at"), Column("event", "event")]


def export_query(fmt: str, what: What, filters: Filters) -> tuple[str, list[Any]]:
    """The SQL (``?`` placeholders) selecting the exported columns, oldest row first."""
    cols = [c.name if c.name != "event" else "raw" for c in columns(fmt, what)]
    where: list[str] = []
    params: list[Any] = []
    if filters.since:
        where.append("event_time >= ?")
        params.append(filters.since)
    if filters.until:
        where.append("event_time < ?")
        params.append(filters.until)
    if filters.course:
        where.append("(course_number = ? OR course_pk = ?)")
        params += [filters.course, filters.course]
    if filters.type:
        where.append("type = ?")
        params.append(filters.type)
    sql = f"SELECT {', '.join(cols)} FROM events"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return sql + " ORDER BY id", params


def export(
    store: Store, out: BinaryIO, *, fmt: str = "jsonl", what: What = "events", filters: Filters | None = None
) -> int:
    """Write the selected events to `out`; return how many. Memory is bounded by the store's
    streaming cursor and the format's buffer, whatever the size of the store."""
    sql, params = export_query(fmt, what, filters or Filters())
    writer = open_writer(fmt, out, columns(fmt, what))
    n = 0
    try:
        for record in store.stream(sql, params):
            writer.write(record)
            n += 1
    finally:
        writer.close()
    return n
