"""The endpoint Learn posts to: ``POST`` stores a payload, ``GET`` answers the 1.2 config request.

A request is answered 2xx only once its bytes are durable. An ordinary body (one JSON
envelope with a supported ``dataVersion`` and at least one event, labelled JSON, no summary
asked) is checked by one shallow decode (`inboxable`) and committed to the inbox as received;
the digester (`server.storage`) turns it into events and dead letters behind. Its answer
can no longer depend on its events, and it does not: the events of an envelope become events
or dead letters, but the whole request is a 200 whatever they hold.

Every other body is parsed here, as before, because its answer depends on what it holds: a
summary (``Prefer: return=representation``) counts its events, a body that is not Caliper
(400), declares an unknown ``dataVersion`` (422), is labelled as something else (415 or a
warning) or is gzip (whose inflation may be a 413). It goes through the same reader and
`ingest.prepare` as every other input; a refused body is kept whole as one dead letter
*before* it is refused. In a pseudonymous store every body is parsed here, so that nothing
personal rests in the inbox in clear.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterable
from typing import Any

import msgspec
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from caliper_stream.errors import StoreError, StoreUnavailable
from caliper_stream.ingest import Batch, Protection, now
from caliper_stream.problems import Problem, warning
from caliper_stream.server.auth import KeyRing, Throttle, key_from_header
from caliper_stream.server.metrics import Metrics
from caliper_stream.server.overload import Overload
from caliper_stream.server.payload import MAX_ITEMS, Parsed, TooLarge, parse, refuse
from caliper_stream.server.problems import problem
from caliper_stream.server.settings import Settings
from caliper_stream.server.storage import Digester
from caliper_stream.store.base import Inboxed, WriteResult
from caliper_stream.store.writer import Writer
from caliper_stream.vocab import CONTEXTS, version_of_context

#: Media types read as Caliper JSON (any ``+json`` suffix too); gzip is detected from the bytes.
JSON_TYPES = frozenset(
    {
        "application/json",
        "application/ld+json",
        "application/x-ndjson",
        "application/ndjson",
        "application/jsonl",
        "application/x-jsonlines",
        "application/gzip",
        "application/x-gzip",
    }
)
ENCODINGS = frozenset({"", "identity", "gzip", "x-gzip"})
#: How many rejection reasons (and warnings) a summary lists.
SUMMARY_PROBLEMS = 20

DUPLICATE_NOTE = (
    "duplicates are events already stored (same event, whichever API key sent it); they stay"
    " under the source that sent them first"
)

_encode = msgspec.json.Encoder().encode
#: Bodies up to this size are checked by `inboxable` on the event loop (measured ≈ 0.3 ms per MB).
INLINE_PROBE_BYTES = 1 << 20


class _Envelope(msgspec.Struct, rename="camel"):
    """What `inboxable` looks at: the envelope's data as unparsed pieces, and its version."""

    data: list[msgspec.Raw]
    data_version: Any = None


_probe = msgspec.json.Decoder(_Envelope).decode


def inboxable(body: bytes) -> int:
    """The number of events when `body` is one envelope whose answer cannot depend on them
    (a supported or absent ``dataVersion``, 1 to `MAX_ITEMS` pieces in ``data``), else 0. One
    shallow decode: the events are skipped over, not parsed."""
    try:
        envelope = _probe(body)
    except (msgspec.DecodeError, RecursionError):
        return 0
    version = envelope.data_version
    if version is not None and (not isinstance(version, str) or version_of_context(version) is None):
        return 0
    return len(envelope.data) if len(envelope.data) <= MAX_ITEMS else 0


def media_type(value: str | None) -> str:
    return (value or "").split(";", 1)[0].strip().lower()


def is_json(ctype: str) -> bool:
    """Whether a media type says JSON (none at all is read as JSON too)."""
    return not ctype or ctype in JSON_TYPES or ctype.endswith("+json")


def wants_summary(request: Request) -> bool:
    """``Prefer: return=representation`` (RFC 7240) or ``?summary=1`` asks for the counts."""
    if request.query_params.get("summary", "").lower() in ("1", "true", "yes"):
        return True
    prefer = request.headers.get("prefer", "")
    return any(p.strip().lower() == "return=representation" for p in prefer.replace(";", ",").split(","))


class IngestEndpoint:
    """``POST``/``GET`` on the configured path."""

    def __init__(
        self,
        settings: Settings,
        writer: Writer,
        digester: Digester,
        keys: KeyRing,
        metrics: Metrics,
        overload: Overload,
        privacy: Protection | None = None,
    ) -> None:
        self.settings = settings
        self.privacy = privacy  # a pseudonymous store's protection, applied before anything is stored
        self.writer = writer
        self.digester = digester
        self.keys = keys
        self.metrics = metrics
        self.overload = overload
        self.throttle = Throttle(settings.auth_failures, settings.auth_window)

    async def _authenticate(self, request: Request) -> str | Response:
        client = request.client.host if request.client else ""
        wait = self.throttle.retry_after(client)
        if wait is not None:
            self.metrics.auth_throttled.inc()
            return problem("throttled", f"too many wrong API keys from {client}; retry in {wait} s", retry_after=wait)
        key = key_from_header(request.headers.get("authorization"))
        try:
            found = await self.keys.lookup(key)
        except StoreUnavailable as exc:
            return problem("unavailable", f"cannot read API keys: {exc}", retry_after=self.settings.retry_after)
        if found is None:
            self.metrics.auth_failures.inc()
            if key is not None:
                self.throttle.failed(client)
            why = "no Authorization header" if key is None else "unknown or revoked API key"
            return problem("unauthorized", f"{why}; send 'Authorization: Bearer <key>' or 'Authorization: <key>'")
        if found.role != "write":
            return problem("forbidden", f"a {found.role} key cannot send events; use a write key")
        return found.name

    async def authorize(self, request: Request) -> Response | None:
        """None when the request carries an active key, else the refusal (for other routes)."""
        who = await self._authenticate(request)
        return who if isinstance(who, Response) else None

    async def config(self, request: Request) -> Response:
        """The Caliper 1.2 configuration request (same auth as POST)."""
        who = await self._authenticate(request)
        if isinstance(who, Response):
            return who
        body = {
            "caliperMaximumPayloadSize": self.settings.max_bytes // 1024,
            "caliperSupportedVersions": list(CONTEXTS.values()),
            "caliperSupportedExtensions": {},
        }
        return Response(_encode(body), media_type="application/json")

    async def _body(self, request: Request) -> bytes:
        limit = self.settings.max_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            raise TooLarge(f"Content-Length {int(declared)} exceeds the limit of {limit} bytes")
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise TooLarge(f"body exceeds the limit of {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    async def post(self, request: Request) -> Response:
        log: dict[str, Any] = request.scope.setdefault("caliper.log", {})
        who = await self._authenticate(request)
        if isinstance(who, Response):
            return who
        source = log["source"] = who
        ctype = media_type(request.headers.get("content-type"))
        encoding = request.headers.get("content-encoding", "").strip().lower()
        refused = None
        if encoding not in ENCODINGS:
            refused = f"Content-Encoding {encoding!r} is not supported; use gzip or none"
        busy = None if refused is not None else self.overload.refusal()
        if busy is not None:
            return problem("overloaded", busy, retry_after=self.settings.retry_after)
        try:
            body = await self._body(request)
            log["bytes"] = len(body)
            events = 0
            if refused is None and self.privacy is None and is_json(ctype) and not wants_summary(request):
                # a large body is decoded off the event loop, as every parse is (health stays quick)
                events = inboxable(body) if len(body) <= INLINE_PROBE_BYTES else await asyncio.to_thread(inboxable, body)
            if events:
                return await self._inbox(Inboxed(body, source, now(), ctype, events), log)
            if refused is not None:
                # 415, but after keeping the body as a dead letter: an authenticated source's
                # bytes are never dropped, whatever it labelled them (replay them once it is fixed)
                parsed = refuse(
                    body, [Problem("", refused)], source, now(), "unsupported-media-type", refused, self.privacy
                )
            else:
                # always off the event loop: a small body can still hold 100,000 tiny items
                parsed = await asyncio.to_thread(
                    parse, body, source, self.settings.max_inflated_bytes, privacy=self.privacy
                )
                if not is_json(ctype):
                    parsed = self._mislabelled(parsed, body, source, ctype)
        except TooLarge as exc:
            return problem("too-large", str(exc), max_bytes=self.settings.max_bytes)
        except ClientDisconnect:
            return problem("incomplete", "the client went away before sending the whole body; nothing stored")
        return await self._store(request, parsed, source, log)

    def _mislabelled(self, parsed: Parsed, body: bytes, source: str, ctype: str) -> Parsed:
        """A body labelled as something else than JSON (``curl --data-binary`` sends a form
        type): stored when it reads as Caliper, with a warning and a metric, since losing a
        batch over its label is worse than accepting it; otherwise 415 (kept as a dead letter)."""
        why = f"Content-Type {ctype!r} is not JSON"
        if parsed.refusal == "not-caliper":
            reason = Problem("", f"{why}; send application/json")
            return refuse(body, [reason], source, now(), "unsupported-media-type", why, self.privacy)
        self.metrics.mislabelled(ctype)
        parsed.batch.warnings.insert(0, warning("", f"{why}; the body was read as JSON: send application/json"))
        return parsed

    async def _commit(self, work: Batch | Inboxed) -> WriteResult | Response:
        """Hand `work` to the writer; its result once committed, or the 503 answer."""
        size = len(work)
        self.overload.pending += size
        self.metrics.pending.set(self.overload.pending)
        started = time.perf_counter()
        try:
            result = await self.writer.write(work)
        except StoreError as exc:  # unavailable or not: nothing of this request is stored
            self.metrics.unavailable.inc()
            return problem(
                "unavailable",
                f"the database could not commit this request ({exc}); retry later: events that were"
                " stored after all are then answered as duplicates",
                retry_after=self.settings.retry_after,
            )
        finally:
            self.overload.pending -= size
            self.metrics.pending.set(self.overload.pending)
        self.metrics.write_wait.observe(time.perf_counter() - started)
        return result

    async def _inbox(self, body: Inboxed, log: dict[str, Any]) -> Response:
        """Commit the body to the inbox and answer 200; the digester does the rest."""
        result = await self._commit(body)
        if isinstance(result, Response):
            return result
        self.digester.nudge()
        self.metrics.inboxed(body.events, len(body.body))
        log.update(inboxed=body.events)
        return Response(b"", status_code=200)

    async def _store(self, request: Request, parsed: Parsed, source: str, log: dict[str, Any]) -> Response:
        batch = parsed.batch
        size = len(batch)
        result = await self._commit(batch)
        if isinstance(result, Response):
            return result
        self.metrics.request_events.observe(size)
        self.metrics.outcome(source, parsed.row_types, parsed.rejected_types, result.accepted)
        log.update(accepted=result.accepted, duplicates=result.duplicates, rejected=result.dead_letters)
        if parsed.refusal is not None:
            return problem(parsed.refusal, parsed.detail + " (kept as a dead letter)")
        if wants_summary(request):
            return Response(
                _encode(_summary(result, batch)),
                media_type="application/json",
                headers={"Preference-Applied": "return=representation"},
            )
        return Response(b"", status_code=200)


def _listed(problems: Iterable[Problem], total: int) -> list[str]:
    """The first `SUMMARY_PROBLEMS` problems, and how many more there are."""
    out = [str(p) for p in itertools.islice(problems, SUMMARY_PROBLEMS)]
    if total > len(out):
        out.append(f"… and {total - len(out)} more")
    return out


def _summary(result: WriteResult, batch: Batch) -> dict[str, Any]:
    out: dict[str, Any] = {
        "accepted": result.accepted,
        "duplicates": result.duplicates,
        "rejected": result.dead_letters,  # events the database refused included
    }
    reasons = sum(len(dl.reasons) for dl in batch.dead_letters)
    if reasons:
        out["problems"] = _listed((r for dl in batch.dead_letters for r in dl.reasons), reasons)
    if batch.warnings:
        out["warnings"] = _listed(batch.warnings, len(batch.warnings))
    if result.duplicates:
        out["note"] = DUPLICATE_NOTE
    return out
