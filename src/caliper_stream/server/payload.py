"""What a request body holds: its events and dead letters, or why the whole body is refused.

Pure functions of the body (no I/O), so that they can run in a worker thread or process.

The cost of a body is bounded by what it finally decodes to, not by what was sent: gzip is
undone layer after layer (gzip inside gzip) with the size limit applied to every layer's
output, and a body holding more than `MAX_ITEMS` pieces is refused as soon as the reader has
counted that many (a 3 KB gzip of ``[{},{},…]`` decodes to a million items). Both refusals
are 413 with the reason, before anything is stored.
"""

from __future__ import annotations

import gzip
import zlib

import msgspec

from caliper_stream.errors import ReadError
from caliper_stream.event import Event, decode
from caliper_stream.ingest import Batch, DeadLetter, Protection, now, prepare
from caliper_stream.problems import Problem, error
from caliper_stream.read import TooManyItems, read_bytes
from caliper_stream.vocab import CONTEXTS, version_of_context

#: Pieces (events and unreadable pieces) one request may hold. Learn sends batches of a few
#: hundred events; 100,000 real events would be ~200 MB, beyond the decompression limit anyway.
MAX_ITEMS = 100_000
#: gzip layers undone at most (one is what senders do; a second is tolerated).
MAX_LAYERS = 3
#: Reasons kept in the one dead letter of a refused body (the rest are counted).
MAX_REASONS = 100

_GZIP = b"\x1f\x8b"
_STEP = 1024 * 1024


class TooLarge(Exception):
    """The body exceeds a size limit (bytes, decompressed bytes or pieces)."""


class Parsed(msgspec.Struct):
    """A body decoded into a batch, or the reason the whole body is refused."""

    batch: Batch
    row_types: list[str]
    rejected_types: list[str]
    refusal: str | None = None  # "not-caliper" or "unsupported-version"
    detail: str = ""


def inflate(body: bytes, limit: int) -> bytes:
    """Undo gzip, layer after layer, refusing any layer whose output passes `limit` bytes:
    the limit bounds the bytes finally parsed, however many layers wrap them."""
    layers = 0
    while body[:2] == _GZIP:
        layers += 1
        if layers > MAX_LAYERS:
            raise TooLarge(f"more than {MAX_LAYERS} layers of gzip")
        body = _gunzip(body, limit)
    return body


def _gunzip(body: bytes, limit: int) -> bytes:
    """One layer of gzip (several members allowed), refusing output beyond `limit` bytes."""
    out = bytearray()
    data = body
    while data[:2] == _GZIP:
        d = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        while True:
            # a MiB at a time: zlib releases the GIL while it works, the copies stay short
            chunk = d.decompress(data, min(_STEP, limit + 1 - len(out)))
            out += chunk
            if len(out) > limit:
                del out  # not kept alive by the exception's frame: memory goes back at once
                raise TooLarge(f"body expands beyond {limit} bytes once decompressed")
            data = d.unconsumed_tail
            if d.eof or not (data or chunk):
                break
        if not d.eof:
            raise ReadError("truncated gzip data")
        data = d.unused_data.lstrip(b"\x00")
    plain = bytes(out)
    del out
    return plain


def parse(
    body: bytes, source: str, max_inflated: int, max_items: int = MAX_ITEMS, privacy: Protection | None = None
) -> Parsed:
    """Read, decode and classify a body (sync: runs in a thread). Raises `TooLarge`. A
    pseudonymous store's `privacy` is applied to every event and to a body kept whole."""
    received_at = now()
    try:
        plain = inflate(body, max_inflated) if body[:2] == _GZIP else body
        items = list(read_bytes(plain, source, max_items))
    except TooManyItems as exc:
        raise TooLarge(f"{exc}; send at most {max_items} per request") from None
    except (ReadError, zlib.error, gzip.BadGzipFile, EOFError, OSError) as exc:
        reason = error("", f"not readable: {exc}")
        return refuse(body, [reason], source, received_at, "not-caliper", str(reason), privacy)
    del plain
    checked = None
    for item in items:
        env = item.envelope
        if env is not None and env is not checked and env.data_version is not None and not _supported(env.data_version):
            shown = repr(env.data_version) if isinstance(env.data_version, str) else "a non-string value"
            reason = error(
                f"envelope[{env.index}].dataVersion",
                f"unsupported dataVersion {shown[:200]}; supported: {', '.join(CONTEXTS.values())}",
            )
            return refuse(body, [reason], source, received_at, "unsupported-version", reason.message, privacy)
        checked = env
    if privacy is not None:
        items = [privacy.protect(item) for item in items]
    events: list[Event] = [decode(item) for item in items]
    batch = prepare(events, source=source, received_at=received_at)
    # no Caliper structure at all: no event stored and none that sat in an envelope's data (an
    # envelope's own failures, such as data that is no array or empty, sit at its ``data``)
    if not batch.rows and all(item.envelope is None or not item.path.endswith("]") for item in items):
        reasons = [r for dl in batch.dead_letters for r in dl.reasons]
        detail = "; ".join(str(r) for r in reasons[:3]) or "no event in the body"
        return refuse(body, reasons, source, received_at, "not-caliper", detail, privacy)
    rows = [row.keydata.type or "unknown" for row in batch.rows]
    rejected = [e.type or "unknown" for e in events if e.rejection is not None]
    return Parsed(batch, rows, rejected)


def _supported(data_version: object) -> bool:
    try:
        return version_of_context(data_version) is not None
    except RecursionError:
        return False


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
    (what `privacy` leaves of it, in a pseudonymous store). Past `MAX_REASONS` the reasons are
    counted, not listed (a body of 100,000 ``null``)."""
    if privacy is not None:
        body = privacy.scrub(body)
    if len(reasons) > MAX_REASONS:
        more = len(reasons) - MAX_REASONS
        reasons = [*reasons[:MAX_REASONS], Problem("", f"… and {more} more problems not listed")]
    letter = DeadLetter(body, reasons, source, received_at)
    return Parsed(Batch(dead_letters=[letter]), [], ["unknown"], kind, detail)
