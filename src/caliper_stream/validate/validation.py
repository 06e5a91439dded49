"""`validate`: every error and warning of one decoded event, lenient or strict.

Lenient mode (the store's) accepts whatever `caliper_stream.event.decode` accepted and reports
each deviation from the specification as a warning with its JSON path. Strict mode is
conformance: a violation of the specification is an error, a SHOULD a warning, and input the
reader had to repair to read (raw control characters, U+00A0 as whitespace) is not JSON: an error.

Documents that are Caliper but not events (an entity sent on its own, the spec's "describe";
the 1.2 endpoint configuration payload) are not events, so `decode` rejects them ("missing actor,
action, object") and the store dead-letters them. `validate` names them in both modes ("an Agent
entity, not an event", a warning) and checks them as what they are, with the same severities as
events: so strict never accepts what lenient rejects (see `caliper_stream.validate.documents`).
"""

from __future__ import annotations

from typing import Any

import msgspec

from caliper_stream.event import Event
from caliper_stream.problems import Problem, error, join, warning
from caliper_stream.read import Envelope
from caliper_stream.validate import documents, rules, values
from caliper_stream.validate.checker import Checker, Finding, Level, context_version
from caliper_stream.validate.quirks import quirks

_MISSING = "not a Caliper event: missing "
_REPAIRED = "repaired: "
_NEW_IN_12 = rules.ENTITY_TYPES["1.2"] - rules.ENTITY_TYPES["1.1"]


def spec_version(doc: dict[str, Any], envelope: Envelope | None, fallback: str) -> str:
    """The version a document is written in: its @context, else the envelope's dataVersion,
    else its shape (``@type`` is 1.0, ``profile`` 1.2), else `fallback` (1.1 by default)."""
    found = context_version(doc.get("@context"))
    if found is None and envelope is not None:
        found = context_version(envelope.data_version)
    if found is not None:
        return found
    if "@type" in doc or "@id" in doc:
        return "1.0"
    if "profile" in doc or documents.entity_type(doc) in _NEW_IN_12:
        return "1.2"
    return fallback if fallback in ("1.1", "1.2") else "1.1"


def envelope_path(path: str) -> str:
    """The path of the envelope an event path lies in: ``[2].data[0]`` → ``[2]``."""
    at = path.rfind("data[")
    return path[:at].rstrip(".") if at >= 0 else ""


def check_envelope(envelope: Envelope, path: str, version: str) -> list[Finding]:
    """The envelope rules: sensor, sendTime and (since 1.1) dataVersion required, nothing else."""
    found: list[Finding] = []

    def add(key: str, message: str, level: Level = "violation") -> None:
        found.append(Finding(join(path, key), message, level))

    if envelope.sensor is None:
        add("sensor", "envelope sensor missing")
    elif not isinstance(envelope.sensor, str):
        add("sensor", f"expected a string, got {values.json_kind(envelope.sensor)}")
    elif not values.is_iri(envelope.sensor):
        why = "a bare UUID" if values.UUID.match(envelope.sensor) else "not an IRI"
        add("sensor", f"sensor is {why} (SHOULD be an IRI)", "advisory")
    if envelope.send_time is None:
        add("sendTime", "envelope sendTime missing")
    elif not isinstance(envelope.send_time, str) or not values.DATETIME.match(envelope.send_time):
        add("sendTime", f"expected DateTime (YYYY-MM-DDTHH:mm:ss.SSSZ), got {envelope.send_time!r}")
    if envelope.data_version is None:
        if version != "1.0":
            add("dataVersion", "envelope dataVersion missing (required since Caliper 1.1)")
    else:
        named = context_version(envelope.data_version) if isinstance(envelope.data_version, str) else None
        if named is None:
            add("dataVersion", f"unknown dataVersion {envelope.data_version!r}")
        elif named != version:
            add("dataVersion", f"dataVersion names Caliper {named} but the event is Caliper {version}")
    for key in envelope.extra or {}:
        add(key, "not an envelope property (an envelope holds only sensor, sendTime, dataVersion, data)")
    return found


def _typed_not_event(doc: dict[str, Any]) -> bool:
    raw = doc.get("type", doc.get("@type"))
    return isinstance(raw, str) and not raw.endswith("Event")


def validate(event: Event, *, strict: bool = False) -> list[Problem]:
    """All errors and warnings of `event` (see the module docstring)."""
    rejection = event.rejection
    if rejection is not None and not rejection.message.startswith(_MISSING):
        return [rejection, *event.warnings]
    try:
        doc = event.json()
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
        doc = None  # decode read these bytes already; stay total regardless
    named = documents.what(doc) if rejection is not None else None
    if not isinstance(doc, dict) or (rejection is not None and named is None and not strict):
        return [rejection, *event.warnings] if rejection is not None else list(event.warnings)
    version = spec_version(doc, event.envelope, event.version)
    checker = Checker(version, doc.get("@context"))
    findings = checker.findings
    try:
        if rejection is None:
            checker.event(doc, event.path)
        elif named == documents.CONFIGURATION:
            checker.advisory(event.path, f"{named}, not an event")
            documents.check_configuration(checker, doc, event.path)
            rejection = None
        elif named is not None:
            checker.advisory(event.path, f"{named}, not an event")
            checker.entity_document(doc, event.path)
            rejection = None
        elif _typed_not_event(doc):
            checker.entity_document(doc, event.path)  # an unknown type: said so, and still rejected
        else:
            missing = rejection.message[len(_MISSING) :].split(", ")
            checker.event(doc, event.path, skip_required=frozenset(missing))
        if named != documents.CONFIGURATION:
            findings.extend(quirks(doc, event.path))
    except RecursionError:
        checker.violation(event.path, "nested too deeply to check")
    if event.envelope is not None:
        findings.extend(check_envelope(event.envelope, envelope_path(event.path), version))
    return _merge(event, findings, strict, rejection)


def _merge(event: Event, findings: list[Finding], strict: bool, rejection: Problem | None) -> list[Problem]:
    """Decode's warnings plus the findings, without saying one thing twice: a warning decode
    already gave for a path is not repeated, and an error replaces decode's warning there.

    In strict mode the reader's repairs are errors too: input that needed them is not JSON.
    """
    told = {w.path for w in event.warnings if w.path != event.path}
    mine: list[Problem] = []
    for f in findings:
        if strict and f.level == "violation":
            mine.append(error(f.path, f.message, event.index))
        elif f.path not in told:
            mine.append(warning(f.path, f.message, event.index))
    errors = {p.path for p in mine if p.severity == "error"}
    out: list[Problem] = [rejection] if rejection is not None else []
    for w in event.warnings:
        if strict and w.message.startswith(_REPAIRED):
            out.append(error(w.path, "not valid JSON: " + w.message[len(_REPAIRED) :], w.event))
        elif w.path not in errors:
            out.append(w)
    seen: set[tuple[str, str]] = set()
    for p in mine:
        if (p.path, p.message) not in seen:
            seen.add((p.path, p.message))
            out.append(p)
    return out
