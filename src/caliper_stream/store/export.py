"""Streaming export of events or their key data, filtered, in any of the `formats`."""

from __future__ import annotations

import difflib
from typing import Any, BinaryIO, Literal

import msgspec

from caliper_stream.formats import Column, Kind, open_writer
from caliper_stream.keydata import FIELDS
from caliper_stream.store.base import Store
from caliper_stream.store.times import bound
from caliper_stream.vocab import RENAMED_TYPES

What = Literal["events", "keydata"]
_GLOB = frozenset("*?[")
#: key-data columns that hold times (Parquet writes timestamps) and the duration (seconds)
_TIME_FIELDS = frozenset({"event_time", "send_time", "started_at", "ended_at", "received_at"})


class Filters(msgspec.Struct, frozen=True):
    """Which events to export. Times compare as ISO 8601 text against eventTime: `since` is
    inclusive, `until` exclusive, and a bare date works (``--until 2021-01-06`` ends with
    the 5th); the CLI checks and canonicalises them (`caliper_stream.cli.common.parse_time`).

    `course` matches the course number or the course pk, `item` the gradable item pk: exactly,
    as a prefix (``BIO-101`` matches ``BIO-101-26S-001``) or as a glob with ``*``, ``?`` and
    ``[…]`` (``BIO-*-26S-*``); case-sensitive on both backends. `type` is the canonical event
    type term (``AssessmentEvent``, ``bb:ContentEvent``; ``GradeEvent`` includes 1.0's
    OutcomeEvents, ``OutcomeEvent`` selects only those)."""

    since: str | None = None
    until: str | None = None
    course: str | None = None
    type: str | None = None
    item: str | None = None


def columns(fmt: str, what: What) -> list[Column]:
    if what == "keydata":
        return [Column(f, _kind(f)) for f in (*FIELDS, "source", "received_at")]
    if fmt == "jsonl":
        return [Column("event", "event")]  # the event itself, one per line
    return [Column("event_key"), Column("source"), Column("received_at", "time"), Column("event", "event")]


def _kind(field: str) -> Kind:
    if field in ("score", "max_score"):
        return "float"
    if field in _TIME_FIELDS:
        return "time"
    return "duration" if field == "duration" else "text"


def _like(glob: str) -> str:
    """A glob as a LIKE pattern (escape ``\\``): ``*`` → ``%``, ``?`` → ``_``."""
    out = []
    for ch in glob:
        if ch in "%_\\":
            out.append("\\" + ch)
        else:
            out.append({"*": "%", "?": "_"}.get(ch, ch))
    return "".join(out)


def match_clause(columns: tuple[str, ...], value: str, dialect: str) -> tuple[str, list[Any]]:
    """SQL matching any of `columns` against `value` exactly, as a prefix, or as a glob."""
    parts: list[str] = []
    params: list[Any] = []
    for col in columns:
        if _GLOB & set(value):
            if dialect == "sqlite":
                parts.append(f"{col} GLOB ?")
                params.append(value)
            else:  # PostgreSQL's LIKE is case-sensitive, like SQLite's GLOB; no [...] classes
                parts.append(f"{col} LIKE ? ESCAPE '\\'")
                params.append(_like(value))
        else:
            parts.append(f"substr({col}, 1, {len(value)}) = ?")
            params.append(value)
    return "(" + " OR ".join(parts) + ")", params


def export_query(fmt: str, what: What, filters: Filters, dialect: str = "sqlite") -> tuple[str, list[Any]]:
    """The SQL (``?`` placeholders) selecting the exported columns, oldest row first (an
    event's bytes as ``raw_codec, raw``: `export` turns the pair into the exact bytes)."""
    cols = [c.name if c.name != "event" else "raw_codec, raw" for c in columns(fmt, what)]
    where: list[str] = []
    params: list[Any] = []
    if filters.since:
        where.append("event_at >= ?")
        params.append(bound(dialect, filters.since))
    if filters.until:
        where.append("event_at < ?")
        params.append(bound(dialect, filters.until))
    if filters.course:
        clause, more = match_clause(("course_number", "course_pk"), filters.course, dialect)
        where.append(clause)
        params += more
    if filters.item:
        clause, more = match_clause(("gradable_item_pk",), filters.item, dialect)
        where.append(clause)
        params += more
    if filters.type:
        # a renamed type (1.0's OutcomeEvent) selects the events sent under that name
        where.append("original_type = ?" if filters.type in RENAMED_TYPES else "type = ?")
        params.append(filters.type)
    # event_view: whole IRIs joined back (store/prefixes.py), times as text (store/times.py)
    sql = f"SELECT {', '.join(cols)} FROM event_view"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return sql + " ORDER BY id", params


def unmatched(store: Store, filters: Filters) -> list[tuple[str, str, list[str]]]:
    """The course and item filters that match no stored value at all, each with the closest
    existing values: (option, value, closest). Empty when every such filter matches something."""
    found = []
    for option, value, cols in (("--course", filters.course, ("course_number", "course_pk")), ("--item", filters.item, ("gradable_item_pk",))):
        if not value:
            continue
        clause, params = match_clause(cols, value, store.dialect)
        if store.query(f"SELECT 1 FROM events WHERE {clause} LIMIT 1", params):
            continue
        known = sorted({v for col in cols for (v,) in store.query(f"SELECT DISTINCT {col} FROM events WHERE {col} IS NOT NULL")})
        found.append((option, value, closest(value, known)))
    return found


def closest(value: str, known: list[str], n: int = 5) -> list[str]:
    """The existing values most like `value`: those it is part of first, then similar spellings."""
    needle = value.strip("*?").lower()
    containing = [k for k in known if needle and needle in k.lower()]
    similar = difflib.get_close_matches(value, known, n=n, cutoff=0.4)
    return list(dict.fromkeys([*containing, *similar]))[:n]


def export(
    store: Store, out: BinaryIO, *, fmt: str = "jsonl", what: What = "events", filters: Filters | None = None
) -> int:
    """Write the selected events to `out`; return how many. Memory is bounded by the store's
    streaming cursor and the format's buffer, whatever the size of the store."""
    sql, params = export_query(fmt, what, filters or Filters(), store.dialect)
    cols = columns(fmt, what)
    writer = open_writer(fmt, out, cols)
    at = next((i for i, c in enumerate(cols) if c.kind == "event"), None)
    decode = store.decode_raw
    n = 0
    try:
        for record in store.stream(sql, params):
            if at is not None:
                record = (*record[:at], decode(record[at], record[at + 1]), *record[at + 2 :])
            writer.write(record)
            n += 1
    finally:
        writer.close()
    return n
