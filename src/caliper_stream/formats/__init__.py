"""Streaming record writers for export and inspect: JSON Lines, CSV and Parquet.

All three take the same small API: ``open_writer(fmt, out, columns)`` returns a writer with
``write(record)`` (a tuple in column order) and ``close()``; memory stays bounded (Parquet
buffers one row group). A `Column` of kind ``"event"`` holds an event's raw JSON bytes: JSON
Lines writes it as the line itself (see `jsonl.single_line`), CSV as text, Parquet as binary.
Columns of kind ``"time"`` (ISO 8601 text) and ``"duration"`` (ISO 8601 duration text) are text
in JSON Lines and CSV, as stored; Parquet writes them as UTC timestamps and as seconds, so that
BI tools read them as such.
"""

from __future__ import annotations

from typing import Any, BinaryIO, Literal, Protocol

import msgspec

Kind = Literal["text", "float", "event", "time", "duration"]
FORMATS = ("jsonl", "csv", "parquet")


class Column(msgspec.Struct, frozen=True):
    name: str
    kind: Kind = "text"


class RecordWriter(Protocol):
    def write(self, record: tuple[Any, ...]) -> None: ...
    def close(self) -> None: ...


def open_writer(fmt: str, out: BinaryIO, columns: list[Column]) -> RecordWriter:
    """A writer of `fmt` (``jsonl``, ``csv`` or ``parquet``) onto the binary stream `out`."""
    if fmt == "jsonl":
        from caliper_stream.formats.jsonl import JsonlWriter

        return JsonlWriter(out, columns)
    if fmt == "csv":
        from caliper_stream.formats.csv import CsvWriter

        return CsvWriter(out, columns)
    if fmt == "parquet":
        from caliper_stream.formats.parquet import ParquetWriter, require_pyarrow

        require_pyarrow()
        return ParquetWriter(out, columns)
    raise ValueError(f"unknown format {fmt!r}: expected one of {', '.join(FORMATS)}")
