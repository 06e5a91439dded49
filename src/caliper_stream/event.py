"""Decoding one raw event: version detection, canonical type and action, the event key.

`decode` is the ingest hot path shared by the endpoint, ``import`` and ``validate``. It decodes
a typed *view* of the event (see `caliper_stream.model.views`), never raises, and sets
``Event.rejection`` when the input is not a Caliper event at all (no type, actor, action or
object). Everything deeper (the full canonical document, strict validation, writing) is done
on demand from the raw bytes by `caliper_stream.normalize` and `caliper_stream.validate`.

The event key
-------------
``event_key`` identifies an event independently of how it was delivered. It is the hex
BLAKE2b-128 digest of the event's *identity*, encoded with msgpack:

    ("ek1", id, type, action, eventTime, actor, object, target, generated,
     generated score, bb:action.name)

where ``id`` is the event id ("" when absent, as in Caliper 1.0), ``type``/``action`` are
canonical terms (so a 1.0 and a 1.1 copy of one event agree), ``eventTime`` is normalised to
``YYYY-MM-DDTHH:MM:SS.mmmZ``, entity slots contribute their ``id`` (or the bare IRI), and the
score is the generated Score's ``scoreGiven`` or the Result's ``normalScore``/``resultScore``.

Why not the id alone: Learn reuses one id for different events (the Started and Completed
AssessmentItemEvents of its sample share an id) and 1.0 events have none. Why not a hash of the
bytes: a retry or a re-import may re-serialise the same event (whitespace, key order, envelope).
Two deliveries of the same event therefore get the same key; two events that differ in who did
what to which object, when, with which result, get different keys.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import Any

import msgspec

from caliper_stream.diagnose import defect, path_at
from caliper_stream.keydata import KeyData, extract
from caliper_stream.model.views import SLOT_VIEWS, EventView, view_decoder
from caliper_stream.problems import Problem, error, join, warning
from caliper_stream.read import Envelope, RawEvent
from caliper_stream.vocab import TERMS, VERSION_OF_CONTEXT, term, version_of_context

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_CANONICAL_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
_any_decoder = msgspec.json.Decoder()
_decode_view = view_decoder.decode
_encode_identity = msgspec.msgpack.Encoder().encode
_blake2b = hashlib.blake2b
_DECODE_ERRORS = (msgspec.ValidationError, msgspec.DecodeError, RecursionError, UnicodeDecodeError)


class Event:
    """One decoded event: its raw bytes, where it came from, a typed view and its identity."""

    __slots__ = (
        "_checked",
        "_keydata",
        "_warnings",
        "action",
        "envelope",
        "event_time",
        "id",
        "index",
        "key",
        "path",
        "raw",
        "rejection",
        "source",
        "text",
        "type",
        "version",
        "view",
    )

    def __init__(self, item: RawEvent, view: EventView, version: str, warnings: list[Problem]) -> None:
        self.raw = item.raw
        self.text = item.text
        self.index = item.index
        self.path = item.path
        self.envelope = item.envelope
        self.source = item.source
        self.view = view
        self.version = version
        self._warnings = warnings
        self._checked = False
        self.rejection: Problem | None = None
        # the same few types and actions repeat: look them up in `term`'s memo first
        value = view.type
        self.type = (TERMS.get(value) or term(value)) if isinstance(value, str) else ""
        value = view.action
        self.action = (TERMS.get(value) or term(value)) if isinstance(value, str) else ""
        value = view.id
        self.id: str | None = value if isinstance(value, str) else None
        value = view.event_time
        if isinstance(value, str):
            # `canonical_time`'s own first test, written out for the common case
            if len(value) == 24 and value[-1] == "Z" and value[10] == "T" and value[19] == ".":
                self.event_time: str | None = value
            else:
                self.event_time = canonical_time(value)
        else:
            self.event_time = None
        if value is not None and self.event_time is None:
            # never a silent NULL: the key data has no time, and the operator is told why
            warnings.append(warning(join(self.path, "eventTime"), f"eventTime is not a date-time string: {_shown(value)}", self.index))
        self.key = ""
        self._keydata: KeyData | None = None

    @property
    def warnings(self) -> list[Problem]:
        """Tolerated deviations: the reader's repairs, and what the view shows (computed on
        first use, since the ingest path does not need them)."""
        if not self._checked:
            self._checked = True
            if self.rejection is None:
                _quick_warnings(self)
        return self._warnings

    @property
    def noted(self) -> list[Problem]:
        """The warnings found so far without looking for more: the reader's repairs and values
        decoding or key data could not use (an eventTime that is no time, a score beyond float
        range). The endpoint reports these, since each one means key data left empty."""
        return self._warnings

    @property
    def accepted(self) -> bool:
        return self.rejection is None

    def keydata(self) -> KeyData:
        """The flat record of Learn's key data (computed once)."""
        if self._keydata is None:
            self._keydata = extract(self)
        return self._keydata

    def document(self) -> dict[str, Any]:
        """The complete canonical document (Caliper 1.1/1.2 terms), built from the raw bytes."""
        from caliper_stream.normalize import normalize

        return normalize(self.json(), self.version)

    def json(self) -> Any:
        """The event decoded as plain JSON values, exactly as sent (after the reader's repairs)."""
        return _any_decoder.decode(self.text if self.text is not None else self.raw)

    def __repr__(self) -> str:
        return f"<Event {self.path or self.index} {self.type} {self.action} {self.key[:8]}>"


def canonical_time(value: str) -> str:
    """``YYYY-MM-DDTHH:MM:SS.mmmZ`` for any ISO 8601 timestamp; unparseable input unchanged."""
    if len(value) == 24 and value[-1] == "Z" and value[10] == "T" and value[19] == ".":
        return value
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        utc = parsed.astimezone(UTC)
    except (ValueError, OverflowError):  # not a time, or one that leaves years 1..9999 in UTC
        return value
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{parsed.microsecond // 1000:03d}Z"


def _shown(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**30:
        return "a very large integer"
    text = repr(value) if isinstance(value, int | float | bool) else f"a JSON {'array' if isinstance(value, list) else 'object'}"
    return text if len(text) <= 40 else text[:40] + "…"


def slot_id(value: Any) -> str | None:
    """The id of an entity slot: the view's ``id`` or the bare IRI of a thinned entity."""
    if value is None or isinstance(value, str):
        return value
    return value.id if isinstance(value.id, str) else None


def _detect_version(view: EventView, envelope: Envelope | None, legacy_keys: bool) -> str:
    context = view.context
    try:
        if isinstance(context, str):
            found = VERSION_OF_CONTEXT.get(context)
        elif isinstance(context, list) and len(context) == 2 and isinstance(context[1], str):
            # Learn's ``[bb context, Caliper context]``: the last version named wins
            found = VERSION_OF_CONTEXT.get(context[1]) or version_of_context(context[0])
        else:
            found = version_of_context(context)
    except RecursionError:  # a @context nested deeper than any real one
        found = None
    if found:
        return found
    if envelope is not None and isinstance(envelope.data_version, str):
        found = VERSION_OF_CONTEXT.get(envelope.data_version)
        if found:
            return found
    if legacy_keys:
        return "1.0"
    return "1.2" if view.profile is not None else "1.1"


def _sanitize(doc: Any, path: str, index: int, warnings: list[Problem]) -> EventView | None:
    """Slow path for events whose view did not decode: drop mistyped slots with a warning."""
    if not isinstance(doc, dict):
        return None
    clean = dict(doc)
    for key, view in SLOT_VIEWS.items():
        value = clean.get(key)
        if value is None or isinstance(value, str):
            continue
        if isinstance(value, dict):
            try:
                msgspec.convert(value, view)
                continue
            except msgspec.ValidationError as exc:
                why = str(exc)
        else:
            why = f"expected an entity object or IRI, got {type(value).__name__}"
        warnings.append(warning(join(path, key), f"ignored for key data: {why}", index))
        del clean[key]
    try:
        return msgspec.convert(clean, EventView)
    except msgspec.ValidationError:
        return None


def _legacy(data: bytes) -> bytes:
    """Caliper 1.0 keys renamed for the view: ``@id`` → ``id``, ``@type`` → ``type``.

    A quoted ``"@id"`` can only be a key or a whole string value (quotes inside strings are
    escaped), and the view only reads keys, so a plain byte replacement is exact enough here;
    the raw bytes themselves are never changed."""
    return data.replace(b'"@id"', b'"id"').replace(b'"@type"', b'"type"')


def _view(data: bytes, path: str, index: int, warnings: list[Problem]) -> EventView | None:
    try:
        return _decode_view(data)
    except _DECODE_ERRORS:
        return _view_slow(data, path, index, warnings)


def _view_slow(data: bytes, path: str, index: int, warnings: list[Problem]) -> EventView | None:
    """The view of an event the typed decoder refused: decode it untyped and sanitize it."""
    try:
        whole = _any_decoder.decode(data)
    except _DECODE_ERRORS:
        return None
    return _sanitize(whole, path, index, warnings)


def decode(item: RawEvent) -> Event:
    """Decode one raw event leniently. Never raises; see ``Event.rejection``."""
    if item.error is not None and item.raw[:1] != b"{":
        # the reader already knows this piece is no event (``null``, junk): decoding it again
        # would only cost time, and a body can hold 100,000 of them
        event = Event(item, EventView(), "unknown", list(item.warnings))
        event.rejection = item.error
        return event
    data = item.text if item.text is not None else item.raw
    warnings = list(item.warnings) if item.warnings else []
    try:
        view: EventView | None = _decode_view(data)
    except _DECODE_ERRORS:
        view = _view_slow(data, item.path, item.index, warnings)
    legacy = False
    if view is not None and view.type is None and b'"@type"' in data:
        legacy = True
        view = _view(_legacy(data), item.path, item.index, warnings)
    if view is None:
        event = Event(item, EventView(), "unknown", warnings)
        event.rejection = item.error or unreadable(data, item.path, item.index)
        return event
    event = Event(item, view, _detect_version(view, item.envelope, legacy), warnings)
    if item.error is not None:
        event.rejection = item.error
        return event
    if not (event.type and event.action and view.actor is not None and view.object is not None):
        missing = [
            name
            for name, value in (("type", event.type), ("actor", view.actor), ("action", event.action), ("object", view.object))
            if not value
        ]
        event.rejection = error(item.path, "not a Caliper event: missing " + ", ".join(missing), item.index)
        return event
    event.key = event_key(event)
    return event


_BYTE = re.compile(r"\(byte (\d+)\)")


def _at(prefix: str, path: str) -> str:
    if not path:
        return prefix
    if not prefix or path.startswith("["):
        return prefix + path
    return f"{prefix}.{path}"


def unreadable(data: bytes, path: str, index: int | None = None) -> Problem:
    """Why `data` (the piece at `path`) is not a Caliper event, as precisely as can be said:
    the defective value and its JSON path rather than "not a JSON object"."""
    try:
        value = _any_decoder.decode(data)
    except RecursionError:
        return error(path, "JSON is nested too deeply", index)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:
        message = str(exc)
    else:
        kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(value), "a number")
        what = "a JSON object" if isinstance(value, dict) else kind
        return error(path, f"not a Caliper event: expected a JSON object, got {what}", index)
    found = defect(data)
    if found is not None:
        return error(_at(path, found[0]), found[1], index)
    m = _BYTE.search(message)
    where = _at(path, path_at(data, int(m.group(1)))) if m else path
    if message == "Input data was truncated":
        message = "JSON ends inside a value"
    return error(where, f"not readable as JSON: {message}", index)


def _quick_warnings(event: Event) -> None:
    """The deviations visible from the view alone (the full set comes from `validate`)."""
    path, index, add = event.path, event.index, event._warnings.append
    if event.id is None:
        if event.version != "1.0":
            add(warning(join(path, "id"), "event id missing (required since Caliper 1.1)", index))
    elif _UUID.match(event.id):
        add(warning(join(path, "id"), "event id is a bare UUID, not a urn:uuid: URN", index))
    if event.view.event_time is None:
        add(warning(join(path, "eventTime"), "eventTime missing", index))
    elif event.event_time is None:
        pass  # not a string: reported when decoded
    elif not _CANONICAL_TIME.match(event.event_time):
        add(warning(join(path, "eventTime"), f"eventTime is not an ISO 8601 date-time: {event.event_time!r}", index))
    elif event.event_time != event.view.event_time:
        add(warning(join(path, "eventTime"), "eventTime is not in Caliper's UTC millisecond form", index))


def event_key(event: Event) -> str:
    """The deterministic identity of an event (see the module docstring).

    Slots contribute what `slot_id` gives; the score is the generated entity's first non-null
    of scoreGiven, normalScore, resultScore."""
    v = event.view
    generated, actor, obj, target = v.generated, v.actor, v.object, v.target
    score = grade_action = generated_id = None
    if generated is not None:
        if isinstance(generated, str):
            generated_id = generated
        else:
            generated_id = generated.id if isinstance(generated.id, str) else None
            score = generated.score_given
            if score is None:
                score = generated.normal_score
                if score is None:
                    score = generated.result_score
            if generated.extensions is not None:
                grade_action = generated.extensions.action_name
    # `slot_id` written out: this runs once per event
    identity = (
        "ek1",
        event.id or "",
        event.type,
        event.action,
        event.event_time or "",
        actor if actor is None or isinstance(actor, str) else (actor.id if isinstance(actor.id, str) else None),
        obj if obj is None or isinstance(obj, str) else (obj.id if isinstance(obj.id, str) else None),
        target if target is None or isinstance(target, str) else (target.id if isinstance(target.id, str) else None),
        generated_id,
        score,
        grade_action,
    )
    try:
        packed = _encode_identity(identity)
    except (OverflowError, TypeError):  # an integer beyond 64 bits (a score of 401 digits)
        packed = repr(identity).encode()
    return _blake2b(packed, digest_size=16).hexdigest()
