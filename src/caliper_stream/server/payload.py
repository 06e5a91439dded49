"""What a request body holds: its events and dead letters, or why the whole body is refused.

Pure functions of the body (no I/O), so that they can run in a worker process.
"""

from __future__ import annotations

import gzip
import zlib

import msgspec

from caliper_stream.errors import ReadError
from caliper_stream.event import Event, decode
from caliper_stream.ingest import Batch, DeadLetter, Protection, now, prepare
from caliper_stream.problems import Problem, error
from caliper_stream.read import read_bytes
from caliper_stream.vocab import CONTEXTS, version_of_context


class TooLarge(Exception):
    """The body exceeds a size limit."""


class Parsed(msgspec.Struct):
    """A body decoded into a batch, or the reason the whole body is refused."""

    batch: Batch
    row_types: list[str]
    rejected_types: list[str]
    refusal: str | None = None  # "not-caliper" or "unsupported-version"
    detail: str = ""


def inflate(body: bytes, limit: int) -> bytes:
    """Undo gzip (several members allowed), refusing output beyond `limit` bytes."""
    out = bytearray()
    data = body
    while data[:2] == b"\x1f\x8b":
        d = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        while data:
            out += d.decompress(data, limit + 1 - len(out))
            if len(out) > limit:
                raise TooLarge(f"body expands beyond {limit} bytes once decompressed")
            data = d.unconsumed_tail
            if d.eof:
                break
        if not d.eof:
            raise ReadError("truncated gzip data")
        data = d.unused_data.lstrip(b"\x00")
    return bytes(out)


def parse(body: bytes, source: str, max_inflated: int, privacy: Protection | None = None) -> Parsed:
    """Read, decode and classify a body (sync: runs inline or in a thread); a pseudonymous
    store's `privacy` is applied to every event and to a body kept whole."""
    received_at = now()
    try:
        plain = inflate(body, max_inflated) if body[:2] == b"\x1f\x8b" else body
        items = list(read_bytes(plain, source))
    except (ReadError, zlib.error, gzip.BadGzipFile, EOFError, OSError) as exc:
        reason = error("", f"not readable: {exc}")
        return refuse(body, [reason], source, received_at, "not-caliper", str(reason), privacy)
    for item in items:
        env = item.envelope
        if env is not None and env.data_version is not None and version_of_context(env.data_version) is None:
            reason = error(
                f"envelope[{env.index}].dataVersion",
                f"unsupported dataVersion {env.data_version!r}; supported: {', '.join(CONTEXTS.values())}",
            )
            return refuse(body, [reason], source, received_at, "unsupported-version", reason.message, privacy)
    if privacy is not None:
        items = [privacy.protect(item) for item in items]
    events: list[Event] = [decode(item) for item in items]
    batch = prepare(events, source=source, received_at=received_at)
    if not batch.rows and all(item.envelope is None for item in items):
        reasons = [r for dl in batch.dead_letters for r in dl.reasons]
        detail = "; ".join(str(r) for r in reasons[:3]) or "no event in the body"
        return refuse(body, reasons, source, received_at, "not-caliper", detail, privacy)
    rows = [row.keydata.type or "unknown" for row in batch.rows]
    rejected = [e.type or "unknown" for e in events if e.rejection is not None]
    return Parsed(batch, rows, rejected)


def refuse(
    body: bytes,
    reasons: list[Problem],
    source: str,
    received_at: str,
    kind: str,
    detail: str,
    privacy: Protection | None = None,
) -> Parsed:
    """The whole body as ONE dead letter: replaying it later re-reads exactly what was sent
    (what `privacy` leaves of it, in a pseudonymous store)."""
    if privacy is not None:
        body = privacy.scrub(body)
    letter = DeadLetter(body, reasons, source, received_at)
    return Parsed(Batch(dead_letters=[letter]), [], ["unknown"], kind, detail)
