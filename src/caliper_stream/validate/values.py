"""Value predicates for property kinds: dates, durations, IRIs, event ids (compiled once)."""

from __future__ import annotations

import re
from typing import Any, Final

import msgspec

#: Caliper's DateTime: ISO 8601, UTC, millisecond precision
DATETIME: Final = re.compile(r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{3}Z$")
#: any ISO 8601 date-time (what lenient mode tolerates with a warning)
ISO_DATETIME: Final = re.compile(r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)?$")
DURATION: Final = re.compile(
    r"^-?P(?=\d|T\d)(\d+(\.\d+)?Y)?(\d+(\.\d+)?M)?(\d+(\.\d+)?W)?(\d+(\.\d+)?D)?"
    r"(T(?=\d)(\d+(\.\d+)?H)?(\d+(\.\d+)?M)?(\d+(\.\d+)?S)?)?$"
)
#: an absolute IRI (scheme ":" then no whitespace) or a JSON-LD blank node
IRI: Final = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*:|_:)[^\s<>\"{}|\\^`]*$")
UUID: Final = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
URN_UUID: Final = re.compile(
    r"^urn:uuid:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", re.IGNORECASE
)


def json_kind(value: Any) -> str:
    """The JSON name of a value's type, for messages ("expected integer, got string")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def is_iri(value: Any) -> bool:
    return isinstance(value, str) and IRI.match(value) is not None


def is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_decode = msgspec.json.Decoder().decode


def parse_list(text: str) -> list[Any] | None:
    """The list a string holds as JSON (``"[{…}]"``, Learn's 1.0 habit), or None."""
    stripped = text.strip()
    if not stripped.startswith("["):
        return None
    try:
        parsed = _decode(stripped)
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
        return None
    return parsed if isinstance(parsed, list) else None
