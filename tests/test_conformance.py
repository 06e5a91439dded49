"""Conformance over the reference fixtures: the spec's valid and invalid ones and Learn's samples.

Re-serialization is compared the way the Caliper SDKs compare their fixtures: null values and
empty lists/objects do not count (the 1.1 spec says they SHOULD be left out), nor does a nested
``@context`` that repeats the one in effect. 1.1 and 1.2 documents are compared in their own
version's form (what `write` produces is the fixture itself); 1.0 documents cannot be written as
1.0, so they are compared after normalizing both sides (the fixture and the 1.1 output).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from caliper_stream.event import Event, decode
from caliper_stream.normalize import normalize
from caliper_stream.read import read_bytes, read_path
from caliper_stream.validate import validate
from caliper_stream.write import write, write_envelope
from refdata import LEARN, SPEC, seed_payloads

#: not an event, entity or envelope: the JSON an endpoint returns to a 1.2 configuration GET
NOT_A_DOCUMENT = {"caliperEndpointConfigPayload.json"}
VALID = [p for folder in ("v1p0", "v1p1", "v1p2") for p in sorted((SPEC / folder).glob("*.json"))]
#: invalid fixtures that contradict the spec's JSON Schemas: ``maxScore: 15`` is a number, as the
#: schema types it (``"type": "number"``, xsd:decimal); only the SDKs' float typing refuses it
CONTRADICT_THE_SCHEMAS = {"caliperEntityScore-MalformedMaxScoreNotAnInt.json"}
INVALID = sorted(p for p in (SPEC / "v1p2" / "commonErrorFixtures").glob("*.json") if p.name not in CONTRADICT_THE_SCHEMAS)
LEARN_SAMPLES = sorted(LEARN.glob("*.json"))


def ident(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def events(path: Path) -> list[Event]:
    return [decode(item) for item in read_path(path)]


def errors(event: Event, strict: bool = True) -> list[str]:
    return [str(p) for p in validate(event, strict=strict) if p.severity == "error"]


def sdk_view(value: Any, context: Any = None, top: bool = True) -> Any:
    """A document as the SDKs compare it: no nulls, no empties, no repeated nested @context."""
    if isinstance(value, dict):
        inner = value.get("@context", context)
        out = {}
        for key, item in value.items():
            if key == "@context" and not top and item == context:
                continue
            item = sdk_view(item, inner, False)
            if item is None or item == [] or item == {}:
                continue
            out[key] = item
        return out
    if isinstance(value, list):
        return [sdk_view(v, context, False) for v in value]
    return value


def test_the_fixture_sets_are_there() -> None:
    assert len(VALID) >= 280
    assert len(INVALID) >= 80
    assert len(LEARN_SAMPLES) >= 14


def test_the_endpoint_configuration_is_not_a_caliper_document() -> None:
    (path,) = [p for p in VALID if p.name in NOT_A_DOCUMENT]
    config = json.loads(path.read_text())
    assert "type" not in config
    assert "data" not in config
    assert "caliper_supported_versions" in config


@pytest.mark.parametrize("path", [p for p in VALID if p.name not in NOT_A_DOCUMENT], ids=ident)
def test_valid_fixture_is_accepted_in_strict_mode(path: Path) -> None:
    found = events(path)
    assert found
    for event in found:
        assert errors(event) == [], event.path


@pytest.mark.parametrize("path", [p for p in VALID if p.name not in NOT_A_DOCUMENT], ids=ident)
def test_valid_fixture_is_written_back_as_itself(path: Path) -> None:
    for event in events(path):
        original = event.json()
        written = json.loads(write(event))
        if "@context" not in original:
            written.pop("@context")  # a bare value object gets the version's context
        if event.version == "1.0" and "@type" in original:
            original, written = normalize(original, "1.0"), normalize(written, "1.1")
            original.pop("@context")
            written.pop("@context")
        assert sdk_view(written) == sdk_view(original), event.path


@pytest.mark.parametrize(
    "path", [p for p in VALID if p.name.startswith("caliperEnvelope") and p.parent.name != "v1p0"], ids=ident
)
def test_envelope_fixture_is_written_back_as_itself(path: Path) -> None:
    original = json.loads(path.read_text())
    found = events(path)
    envelope = found[0].envelope
    assert envelope is not None
    version = {"http://purl.imsglobal.org/ctx/caliper/v1p1": "1.1"}.get(original["dataVersion"], "1.2")
    written = write_envelope(found, sensor=envelope.sensor, send_time=envelope.send_time, version=version)
    assert sdk_view(json.loads(written)) == sdk_view(original)


@pytest.mark.parametrize("path", [*VALID, *LEARN_SAMPLES], ids=ident)
def test_read_write_read_gives_the_same_canonical_documents(path: Path) -> None:
    for event in events(path):
        if path.name in NOT_A_DOCUMENT:
            continue
        (again,) = [decode(item) for item in read_bytes(write(event))]
        before, after = event.document(), again.document()
        if event.version == "1.0" or "@context" not in before:
            before.pop("@context", None)  # the written version's context replaced it
            after.pop("@context", None)
        assert after == before, event.path


@pytest.mark.parametrize("path", INVALID, ids=ident)
def test_invalid_fixture_is_rejected_in_strict_mode_with_a_reason(path: Path) -> None:
    found = events(path)
    assert found
    for event in found:
        reasons = errors(event)
        assert reasons, event.path
        assert all(r.strip() for r in reasons)


def test_the_unparseable_invalid_fixture_is_rejected_as_unreadable() -> None:
    (path,) = [p for p in INVALID if p.name == "caliperEntitySurvey-MalformedItemsContainsWrongEntityType.json"]
    (event,) = events(path)
    # the reason names where the JSON breaks, not just that it does
    assert errors(event)[0].startswith("items[0].type: not readable as JSON: JSON is malformed: trailing comma")


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("caliperEntity-MalformedCreationDate.json", "dateCreated: expected DateTime"),
        ("caliperEntity-NullId.json", "id: expected an IRI, got null"),
        ("caliperEntity-UnknownContext.json", "@context: unknown @context"),
        ("caliperEntity-UnknownEntityType.json", "type: unknown entity type"),
        ("caliperEntityAggregateMeasure-MalformedMetricValueNotPresent.json", "metricValue: required property"),
        ("caliperEntityAudioObject-MalformedMutedNotAnInt.json", "muted: expected boolean, got integer"),
        ("caliperEntityMembership-MalformedRolesContainsUnknownValue.json", "roles[1]: unknown role"),
        ("caliperEntityScore-MalformedAttemptNoValue.json", "attempt: expected Attempt (object or IRI), got null"),
        ("caliperEntityThread-MalformedItemsContainsWrongType.json", "items[2]: expected Message, got CourseOffering"),
        ("caliperEvent-MalformedFederatedSessionWrongEntityType.json", "federatedSession: expected LtiSession, got Session"),
        ("caliperEvent-MalformedSessionNotAString.json", "session: expected an entity or its IRI"),
        ("caliperEvent-NoEventTime.json", "eventTime: required property missing"),
        ("caliperEvent-NoId.json", "id: required property missing"),
        ("caliperEvent-UnknownAction.json", "action: unknown action"),
        ("caliperEvent-UnknownEventType.json", "type: unknown event type"),
        ("caliperEventAssessment-WrongAction.json", "action: Deleted is not an action of AssessmentEvent"),
        ("caliperEventGeneral-MalformedActorWrongEntityType.json", "actor: expected Agent, got Document"),
        ("caliperEventResourceManagement-MalformedGeneratedWrongEntityType.json", "generated: expected DigitalResource"),
    ],
)
def test_invalid_fixture_reasons(name: str, reason: str) -> None:
    (event,) = events(SPEC / "v1p2" / "commonErrorFixtures" / name)
    assert any(e.startswith(reason) for e in errors(event)), errors(event)


@pytest.mark.parametrize("path", LEARN_SAMPLES, ids=ident)
def test_learn_sample_is_accepted_in_lenient_mode_with_warnings(path: Path) -> None:
    for event in events(path):
        problems = validate(event)
        assert [p for p in problems if p.severity == "error"] == []
        assert any(p.message == "event id is a bare UUID, not a urn:uuid: URN" for p in problems)


@pytest.mark.parametrize("page", ["assessment-events.md", "outcome-events.md"])
def test_seed_pages_are_accepted_in_lenient_mode(page: str) -> None:
    payloads = seed_payloads(page)
    assert payloads
    for payload in payloads:
        for item in read_bytes(payload):
            event = decode(item)
            problems = validate(event)
            assert [p for p in problems if p.severity == "error"] == []
            if page == "outcome-events.md":
                assert any("U+00A0" in p.message for p in problems)


def test_the_fixture_that_contradicts_the_schema_is_accepted() -> None:
    for name in CONTRADICT_THE_SCHEMAS:
        (event,) = events(SPEC / "v1p2" / "commonErrorFixtures" / name)
        assert errors(event) == []
