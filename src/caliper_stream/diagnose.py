"""Why some bytes are not a readable JSON value, and where: the precise reason of a dead letter.

msgspec reports a malformed document by byte offset (``invalid character (byte 2126)``) and a
number it cannot hold with no position at all (``Number out of range``). An operator needs the
JSON path (``data[3].generated.scoreGiven: number too large``), so on this slow path only (the
piece is already refused) its bytes are walked once by a tokenizer that tracks the path.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator

from caliper_stream.problems import join

_TOKEN = re.compile(rb'"(?:[^"\\]++|\\.)*+"|[\[\]{}:,]|"|[^\s\[\]{}:,"]++', re.DOTALL)
_NUMBER = re.compile(rb"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_NUMBERISH = re.compile(rb"[-+0-9.]")
_ESCAPE = re.compile(rb'\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})')
_SURROGATE = re.compile(rb"\\u([dD][89abAB][0-9a-fA-F]{2})(\\u[dD][c-fC-F][0-9a-fA-F]{2})?|\\u([dD][c-fC-F][0-9a-fA-F]{2})")
#: Python refuses to convert longer decimal strings to int (CVE-2020-10735), and so does msgspec.
_MAX_DIGITS = sys.get_int_max_str_digits() or 4300
_SHOW = 24


def _show(token: bytes) -> str:
    text = token[:_SHOW].decode("utf-8", "replace")
    return text + "…" if len(token) > _SHOW else text


def _walk(data: bytes) -> Iterator[tuple[str, int, bytes, bool]]:
    """``(path, offset, token, is_key)`` for every scalar token (keys, strings, numbers, junk),
    with the JSON path of the value it is or belongs to."""
    # one frame per open container: [bracket, current key or index, expecting a key]
    stack: list[list[object]] = []

    def path() -> str:
        out = ""
        for frame in stack:
            at = frame[1]
            if at is not None:
                out = join(out, at)  # type: ignore[arg-type]
        return out

    for m in _TOKEN.finditer(data):
        tok = m.group()
        c = tok[:1]
        if tok in (b"{", b"["):
            stack.append([tok, None if tok == b"{" else 0, tok == b"{"])
        elif tok in (b"}", b"]"):
            if stack:
                stack.pop()
        elif tok == b":":
            if stack:
                stack[-1][2] = False
        elif tok == b",":
            if stack:
                frame = stack[-1]
                if frame[0] == b"[":
                    frame[1] = int(frame[1]) + 1  # type: ignore[call-overload]
                else:
                    frame[2] = True
        elif stack and stack[-1][0] == b"{" and stack[-1][2]:
            key = tok[1:-1].decode("utf-8", "replace") if c == b'"' and len(tok) > 1 else _show(tok)
            stack[-1][1] = key
            yield path(), m.start(), tok, True
        else:
            yield path(), m.start(), tok, False


def _string_defect(tok: bytes, offset: int) -> str | None:
    if len(tok) < 2 or tok[-1:] != b'"':
        return "unterminated string"
    body = tok[1:-1]
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"invalid UTF-8 at byte {offset + 1 + exc.start}"
    for m in _SURROGATE.finditer(body):
        if m.group(3) is not None or m.group(2) is None:
            lone = (m.group(1) or m.group(3)).decode()
            return f"lone surrogate \\u{lone} (a string must be valid Unicode)"
    if b"\\" in body:
        rest = _ESCAPE.sub(b"", body)
        if b"\\" in rest:
            at = rest.index(b"\\")
            return f"invalid escape {_show(rest[at : at + 6])!r} in a string"
    return None


def _scalar_defect(tok: bytes) -> str | None:
    if tok in (b"true", b"false", b"null"):
        return None
    if _NUMBER.fullmatch(tok):
        digits = len(tok) - (tok[:1] == b"-")
        mantissa = re.split(rb"[eE]", tok, maxsplit=1)[0]
        if (b"." not in tok and b"e" not in tok.lower() and digits > _MAX_DIGITS) or len(mantissa) > _MAX_DIGITS:
            return f"number too large ({digits} digits)"
        if float(tok) in (float("inf"), float("-inf")):
            return f"number too large: {_show(tok)}"
        return None
    if _NUMBERISH.match(tok):
        return f"invalid number {_show(tok)!r}"
    return f"invalid token {_show(tok)!r} (JSON allows only strings, numbers, true, false and null)"


def defect(data: bytes) -> tuple[str, str] | None:
    """The first value that makes `data` unreadable: ``(path within data, what is wrong)``,
    or None when every scalar is fine (the defect is then structural)."""
    for path, offset, tok, is_key in _walk(data):
        if tok[:1] == b'"':
            problem = _string_defect(tok, offset)
        elif is_key:
            problem = f"object key {_show(tok)!r} is not a string"
        else:
            problem = _scalar_defect(tok)
        if problem is not None:
            return path, problem
    return None


def path_at(data: bytes, offset: int) -> str:
    """The JSON path of the value at byte `offset` of `data` (for msgspec's byte offsets)."""
    found = ""
    for path, at, _tok, _key in _walk(data[: offset + 1]):
        if at > offset:
            break
        found = path
    return found
