"""JSON Lines: one JSON value per line.

Raw events are written byte for byte, except those that cannot sit on one line as they are:
events with line breaks (pretty-printed payloads, Learn's raw newlines inside strings) or other
raw control characters. Those are rewritten minimally: raw control characters inside strings
become ``\\uXXXX`` escapes, U+00A0 used as indentation becomes spaces, and line breaks between
tokens (with the indentation after them) are dropped. Each line then decodes to the same JSON
value as the original bytes; the exact original bytes stay in the store (and in Parquet export).
"""

from __future__ import annotations

import re
from typing import Any, BinaryIO

import msgspec

from caliper_stream.formats import Column
from caliper_stream.read import repair

_NEEDS_REWRITE = re.compile(rb"[\x00-\x08\x0a-\x1f]|\xc2\xa0")
_BREAK = re.compile(rb"[\r\n][\s]*")
_encode = msgspec.json.Encoder().encode


def single_line(raw: bytes) -> bytes:
    """`raw` as one line of JSON (unchanged unless it has line breaks or control characters)."""
    raw = raw.strip()
    if not _NEEDS_REWRITE.search(raw):
        return raw
    fixed, _ = repair(raw)
    # after repair no string holds a raw control character, so what is left is whitespace
    return _BREAK.sub(b"", fixed)


class JsonlWriter:
    """Events as their own (single-line) JSON; other records as one JSON object per line."""

    def __init__(self, out: BinaryIO, columns: list[Column]) -> None:
        self.out = out
        self.names = [c.name for c in columns]
        self.event_only = len(columns) == 1 and columns[0].kind == "event"
        self.kinds = [c.kind for c in columns]

    def write(self, record: tuple[Any, ...]) -> None:
        if self.event_only:
            self.out.write(single_line(bytes(record[0])))
        else:
            doc: dict[str, object] = {}
            for name, kind, value in zip(self.names, self.kinds, record, strict=True):
                if kind == "event" and value is not None:
                    doc[name] = msgspec.Raw(single_line(bytes(value)))
                else:
                    doc[name] = value
            self.out.write(_encode(doc))
        self.out.write(b"\n")

    def close(self) -> None:
        self.out.flush()
