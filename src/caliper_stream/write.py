"""Writing canonical documents back out as Caliper 1.1 or 1.2 JSON.

`write` serializes the canonical document (`caliper_stream.normalize`) for one version: the
top-level ``@context`` names that version's context, Learn's ``bb:`` types go back to the full IRIs
Learn sends, under Learn's two-element ``@context`` array, and nothing is invented (a 1.0 event
has no ``id`` and gets none; 1.2 gets no ``profile``). Reading the output again gives the same
canonical document, apart from the ``@context`` when the version changed.

`write_raw` returns an event's original bytes, and `write_envelope` wraps documents in an
envelope for sending.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from caliper_stream.event import Event
from caliper_stream.normalize import normalize
from caliper_stream.validate.checker import context_version, is_open
from caliper_stream.validate.rules import (
    CALIPER_CONTEXTS,
    EXTENSION_CONTEXTS,
    LEARN_CONTEXT,
    VERSION_CONTEXT,
)
from caliper_stream.validate.validation import spec_version
from caliper_stream.vocab import bb_iri

WRITABLE = ("1.1", "1.2")
_OPAQUE = frozenset({"extensions", "@context", "messageParameters"})
_encode = msgspec.json.Encoder().encode


def write(event_or_document: Event | dict[str, Any], version: str | None = None) -> bytes:
    """The event (or a document) as Caliper `version` JSON bytes ("1.1" or "1.2"; by default the
    document's own version, 1.1 for a 1.0 document)."""
    return _encode(prepare(event_or_document, version))


def prepare(event_or_document: Event | dict[str, Any], version: str | None = None) -> dict[str, Any]:
    """The JSON value `write` serializes."""
    if isinstance(event_or_document, Event):
        raw = event_or_document.json()
        envelope, fallback = event_or_document.envelope, event_or_document.version
    else:
        raw, envelope, fallback = event_or_document, None, "1.1"
    own = spec_version(raw, envelope, fallback) if isinstance(raw, dict) else "1.1"
    doc = normalize(raw, own)
    target = _writable(version or (own if own in WRITABLE else "1.1"))
    body, learn = _iris({k: v for k, v in doc.items() if k != "@context"})
    return {"@context": _context(doc.get("@context"), target, learn, own), **body}


def write_raw(event: Event) -> bytes:
    """The bytes the event arrived as, unchanged."""
    return event.raw


def write_envelope(
    items: Iterable[Event | dict[str, Any]], *, sensor: str, send_time: str, version: str = "1.1"
) -> bytes:
    """An envelope of `items` written as Caliper `version` (the spec's four properties only)."""
    version = _writable(version)
    data = [prepare(item, version) for item in items]
    envelope = {"sensor": sensor, "sendTime": send_time, "dataVersion": VERSION_CONTEXT[version], "data": data}
    return _encode(envelope)


def _writable(version: str) -> str:
    if version not in WRITABLE:
        raise ValueError(f"cannot write Caliper {version!r}: expected one of {', '.join(WRITABLE)}")
    return version


def _context(given: Any, version: str, learn: bool, own: str) -> Any:
    """The document's @context for `version`: its Caliper context replaced by the version's,
    every other entry kept; Learn's array form when the document holds Learn's types. A context
    that defines its terms inline (no Caliper context IRI) is kept as is for its own version."""
    caliper = VERSION_CONTEXT[version]
    if given is not None and own == version and context_version(given) is None and is_open(given):
        return given
    items = given if isinstance(given, list) else [] if given is None else [given]
    out: list[Any] = []
    for item in items:
        if isinstance(item, str) and (item in CALIPER_CONTEXTS or item in EXTENSION_CONTEXTS):
            if context_version(item) == version and item not in out:
                out.append(item)  # the version's own (or 1.1 extension) context: keep as sent
        elif item not in out:
            out.append(item)
    if not any(isinstance(i, str) and context_version(i) == version for i in out):
        out.append(caliper)
    if learn and LEARN_CONTEXT not in out:
        out.insert(0, LEARN_CONTEXT)
    return out[0] if len(out) == 1 else out


def _iris(doc: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The document with Learn's ``bb:`` types as the IRIs Learn writes (extensions and
    contexts untouched), and whether it had any. Its own stack: any depth is fine."""
    learn = False
    root: dict[str, Any] = {}
    todo: list[tuple[Any, Any]] = [(doc, root)]
    while todo:
        source, target = todo.pop()
        items = source.items() if isinstance(source, dict) else enumerate(source)
        for key, item in items:
            if key == "type" and isinstance(item, str) and item.startswith("bb:"):
                learn = True
                item = bb_iri(item)
            elif isinstance(item, dict | list) and key not in _OPAQUE:
                copy: dict[str, Any] | list[Any] = {} if isinstance(item, dict) else []
                todo.append((item, copy))
                item = copy
            if isinstance(target, dict):
                target[key] = item
            else:
                target.append(item)
    return root, learn
