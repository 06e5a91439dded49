"""Validation: lenient warnings for what Learn really sends, strict errors for conformance."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import msgspec

from caliper_stream.event import Event, decode
from caliper_stream.problems import Problem
from caliper_stream.read import read_bytes, read_path
from caliper_stream.validate import Report, spec_version, validate, validate_items
from caliper_stream.write import write
from refdata import LEARN, SPEC, seed_payloads


def one(doc: Any) -> Event:
    body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    (item,) = read_bytes(body)
    return decode(item)


def events(path: Path) -> list[Event]:
    return [decode(item) for item in read_path(path)]


def fixture(name: str, version: str = "v1p2") -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SPEC / version / name).read_text())
    return loaded


def errors(problems: list[Problem]) -> list[str]:
    return [str(p) for p in problems if p.severity == "error"]


def warnings(problems: list[Problem]) -> list[str]:
    return [str(p) for p in problems if p.severity == "warning"]


def envelope(*data: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "sensor": "https://example.edu/sensors/1",
        "sendTime": "2016-11-15T11:05:01.000Z",
        "dataVersion": "http://purl.imsglobal.org/ctx/caliper/v1p2",
        **fields,
        "data": list(data),
    }


VIEW = fixture("caliperEventViewViewedDocument.json")


# -- strict ---------------------------------------------------------------------------------------


def test_a_valid_event_has_no_errors() -> None:
    assert validate(one(VIEW), strict=True) == []
    assert validate(one(VIEW)) == []


def test_problems_carry_event_index_and_json_path() -> None:
    bad = copy.deepcopy(fixture("caliperEventAssessmentStarted.json"))
    bad["object"]["maxAttempts"] = "two"
    bad["object"]["maxScore"] = "25"
    items = [decode(i) for i in read_bytes(json.dumps(envelope(VIEW, VIEW, VIEW, bad)).encode())]
    problems = validate(items[3], strict=True)
    assert errors(problems) == [
        "data[3].object.maxAttempts: expected non-negative integer, got string",
        "data[3].object.maxScore: expected decimal number, got string",
    ]
    assert {p.event for p in problems} == {3}
    # lenient: the same findings are tolerated deviations
    assert warnings(validate(items[3])) == errors(problems)


def test_every_problem_is_reported_not_just_the_first() -> None:
    bad = copy.deepcopy(VIEW)
    bad["id"] = "cd088ca7-c044-405c-bb41-0b2a8506f907"
    bad["action"] = "Deleted"
    bad["actor"]["type"] = "Document"
    bad["eventTime"] = "2016-11-15"
    bad["edApp"] = 17
    bad["color"] = "blue"
    assert errors(validate(one(bad), strict=True)) == [
        "id: event id is a bare UUID, not a urn:uuid: URN",
        "action: Deleted is not an action of ViewEvent (expected one of Viewed)",
        "actor: expected Person, got Document",
        "edApp: expected an entity object or IRI, got integer",
        "eventTime: expected DateTime (YYYY-MM-DDTHH:mm:ss.SSSZ), got '2016-11-15'",
        "color: not a Caliper property of the event; custom properties belong in extensions",
    ]


def test_required_properties_per_version() -> None:
    no_id = {k: v for k, v in VIEW.items() if k != "id"}
    assert errors(validate(one(no_id), strict=True)) == ["id: required property missing (Caliper 1.2)"]
    assert warnings(validate(one(no_id))) == ["id: event id missing (required since Caliper 1.1)"]
    # 1.0 events have no id
    (event,) = events(SPEC / "v1p0" / "caliperViewEvent.json")
    assert errors(validate(event, strict=True)) == []


def test_events_missing_actor_action_or_object_stay_rejected() -> None:
    no_actor = {k: v for k, v in VIEW.items() if k != "actor"}
    for strict in (False, True):
        problems = validate(one(no_actor), strict=strict)
        assert errors(problems)[0] == "not a Caliper event: missing actor"


def test_actions_per_event_type_and_spelling_variants() -> None:
    def action_errors(kind: str, action: str) -> list[str]:
        doc = {**VIEW, "type": kind, "action": action, "object": "https://example.edu/x", "actor": "https://example.edu/u"}
        return errors(validate(one(doc), strict=True))

    assert action_errors("MessageEvent", "MarkedAsUnRead") == []
    assert action_errors("MessageEvent", "MarkedAsUnread") == []
    assert action_errors("MediaEvent", "EnabledCloseCaptioning") == []
    assert action_errors("MediaEvent", "EnabledClosedCaptioning") == []
    assert action_errors("Event", "Bookmarked") == []  # the generic event takes any action
    assert action_errors("Event", "Frobbed") == ["action: unknown action 'Frobbed'"]
    assert action_errors("GradeEvent", "Viewed")[0].startswith("action: Viewed is not an action of GradeEvent")
    assert action_errors("OutcomeEvent", "Graded") == ["type: OutcomeEvent is not a Caliper 1.2 event type"]


def test_entity_types_per_slot_use_the_hierarchy() -> None:
    section = {"id": "https://example.edu/terms/1/sections/1", "type": "CourseSection"}
    doc = {**VIEW, "group": section}
    assert errors(validate(one(doc), strict=True)) == []  # CourseSection ⊂ CourseOffering ⊂ Organization
    doc = {**VIEW, "group": {"id": "https://example.edu/u", "type": "Person"}}
    assert errors(validate(one(doc), strict=True)) == ["group: expected Organization, got Person"]
    doc = {**VIEW, "edApp": {"id": "https://example.edu/p", "type": "Page"}}
    assert errors(validate(one(doc), strict=True)) == ["edApp: expected SoftwareApplication, got Page"]
    # a thinned entity that names its type through the 1.2 anonymous IRI
    doc = {**VIEW, "actor": "http://purl.imsglobal.org/caliper/SoftwareApplication"}
    assert errors(validate(one(doc), strict=True)) == ["actor: expected Person, got anonymous SoftwareApplication"]


def test_unknown_types_are_errors_unless_another_context_defines_them() -> None:
    thesis = {"id": "https://example.edu/t/1", "type": "Thesis", "author": "https://example.edu/u"}
    doc = {**VIEW, "type": "Event", "action": "Submitted", "object": thesis}
    assert errors(validate(one(doc), strict=True)) == ["object.type: unknown entity type 'Thesis'"]
    doc["@context"] = ["https://schema.org/docs/jsonldcontext.json", "http://purl.imsglobal.org/ctx/caliper/v1p2"]
    problems = validate(one(doc), strict=True)
    assert errors(problems) == []
    assert "object.type: Thesis is not a Caliper type (defined by another context)" in warnings(problems)


def test_contexts_must_be_caliper_ones() -> None:
    doc = {**VIEW, "@context": "http://example.org/ctx"}
    assert errors(validate(one(doc), strict=True)) == [
        "@context: unknown @context 'http://example.org/ctx' (not a Caliper context)"
    ]
    doc = {**VIEW, "@context": ["http://example.org/a", "http://example.org/b"]}
    assert errors(validate(one(doc), strict=True)) == ["@context: no Caliper context in the @context list"]


def test_nulls_are_errors_in_11_and_normal_in_10() -> None:
    doc = {**VIEW, "target": None}
    assert errors(validate(one(doc), strict=True)) == [
        "target: expected Frame (object or IRI), got null (leave the property out)"
    ]
    (event,) = events(SPEC / "v1p0" / "caliperAssessmentOutcomeEvent.json")
    assert validate(event, strict=True) == []


def test_envelope_rules_in_strict_mode() -> None:
    bad = envelope(VIEW, dataVersion=None, extra="x", sendTime="yesterday")
    (event,) = [decode(i) for i in read_bytes(json.dumps(bad).encode())]
    assert errors(validate(event, strict=True)) == [
        "sendTime: expected DateTime (YYYY-MM-DDTHH:mm:ss.SSSZ), got 'yesterday'",
        "dataVersion: envelope dataVersion missing (required since Caliper 1.1)",
        "extra: not an envelope property (an envelope holds only sensor, sendTime, dataVersion, data)",
    ]
    mixed = envelope(VIEW, dataVersion="http://purl.imsglobal.org/ctx/caliper/v1p1")
    (event,) = [decode(i) for i in read_bytes(json.dumps(mixed).encode())]
    assert errors(validate(event, strict=True)) == [
        "dataVersion: dataVersion names Caliper 1.1 but the event is Caliper 1.2"
    ]


def test_entity_documents_are_named_and_checked_as_entities_in_both_modes() -> None:
    (person,) = events(SPEC / "v1p2" / "caliperEntityPerson.json")
    assert person.rejection is not None  # the store keeps events only
    for strict in (False, True):
        assert errors(validate(person, strict=strict)) == []
        assert "a Person entity, not an event" in warnings(validate(person, strict=strict))
    (agent,) = events(SPEC / "v1p1" / "caliperEntityAgent.json")
    assert "an Agent entity, not an event" in warnings(validate(agent))
    score = fixture("caliperEntityScore.json")
    score["maxScore"] = "fifteen"
    assert errors(validate(one(score), strict=True)) == ["maxScore: expected decimal number, got string"]
    # a document of an unknown type is neither an entity nor an event: rejected in both modes
    gizmo = one({**score, "type": "Gizmo"})
    assert "type: unknown entity type 'Gizmo'" in errors(validate(gizmo, strict=True))
    assert errors(validate(gizmo)) == ["not a Caliper event: missing actor, action, object"]


def test_strict_never_accepts_what_lenient_rejects() -> None:
    from caliper_stream.validate import validate_items

    for folder in ("v1p1", "v1p2", "v1p2/commonErrorFixtures"):
        for path in sorted((SPEC / folder).glob("*.json")):
            lenient = validate_items(read_path(path))
            strict = validate_items(read_path(path), strict=True)
            assert strict.accepted <= lenient.accepted, path
            assert strict.documents - strict.invalid_documents <= lenient.documents - lenient.invalid_documents, path


def test_the_endpoint_configuration_is_validated_as_a_configuration() -> None:
    config = json.loads((SPEC / "v1p2" / "caliperEndpointConfigPayload.json").read_text())
    (event,) = [decode(i) for i in read_bytes(json.dumps(config).encode())]
    assert errors(validate(event, strict=True)) == []
    assert "an endpoint configuration payload, not an event" in warnings(validate(event, strict=True))
    camel = {"caliperSupportedVersions": ["http://purl.imsglobal.org/ctx/caliper/v1p2"], "caliperMaximumPayloadSize": 512}
    (event,) = [decode(i) for i in read_bytes(json.dumps(camel).encode())]
    assert errors(validate(event, strict=True)) == []
    bad = {**config, "caliper_supported_versions": ["http://example.edu/v9"], "caliper_maximum_payload_size": "big", "x": 1}
    (event,) = [decode(i) for i in read_bytes(json.dumps(bad).encode())]
    assert errors(validate(event, strict=True)) == [
        "caliper_maximum_payload_size: expected a positive whole number of kilobytes, got 'big'",
        "caliper_supported_versions[0]: not a Caliper context IRI: 'http://example.edu/v9'",
        "x: not a property of an endpoint configuration",
    ]


def test_unreadable_input_is_its_rejection() -> None:
    (item,) = read_bytes(b'{"type": "ViewEvent",')
    event = decode(item)
    problems = validate(event, strict=True)
    assert len(problems) == 1
    assert problems[0].message.startswith("not readable as JSON")


def test_repaired_input_is_not_json_in_strict_mode() -> None:
    (first, _second) = events(LEARN / "content-events.json")
    assert "data[0]: repaired: raw control characters inside strings" in warnings(validate(first))
    assert "data[0]: not valid JSON: raw control characters inside strings" in errors(validate(first, strict=True))


def test_absurd_nesting_is_reported_not_raised() -> None:
    nested: Any = "https://example.edu/r/0"
    for i in range(400):
        nested = {"type": "DigitalResource", "id": f"https://example.edu/r/{i + 1}", "isPartOf": nested}
    event = one({**VIEW, "object": nested})
    assert errors(validate(event, strict=True)) == ["nested too deeply to check"]
    assert event.document()["object"]["isPartOf"]["isPartOf"]["id"] == "https://example.edu/r/398"
    assert json.loads(write(event))["object"]["id"] == "https://example.edu/r/400"


def test_spec_version_reads_context_envelope_and_shape() -> None:
    assert spec_version({"@context": "http://purl.imsglobal.org/ctx/caliper/v1p1/SurveyProfile-extension"}, None, "1.2") == "1.1"
    assert spec_version({"@context": {"id": "@id"}, "profile": "ForumProfile"}, None, "1.0") == "1.2"
    assert spec_version({"@type": "x"}, None, "1.1") == "1.0"
    assert spec_version({"type": "SystemIdentifier"}, None, "1.1") == "1.2"


# -- lenient: what Learn really sends --------------------------------------------------------------


def learn(name: str) -> list[list[Problem]]:
    return [validate(event) for event in events(LEARN / name)]


def test_every_learn_sample_is_accepted_in_lenient_mode() -> None:
    paths = sorted(LEARN.glob("*.json"))
    assert len(paths) >= 14
    for path in paths:
        for problems in learn(path.name):
            assert errors(problems) == [], path.name
    for page in ("assessment-events.md", "outcome-events.md"):
        for payload in seed_payloads(page):
            for item in read_bytes(payload):
                assert errors(validate(decode(item))) == [], page


def test_learn_deviations_are_warnings_with_paths() -> None:
    (session,) = learn("session-events.json")
    assert "id: event id is a bare UUID, not a urn:uuid: URN" in warnings(session)
    (view,) = learn("view-events.json")
    assert "target: expected Frame, got Chapter" in warnings(view)
    assert "object.index: not a Caliper property of Chapter; custom properties belong in extensions" in warnings(view)
    (grade,) = learn("grade-events.json")
    assert "sensor: sensor is a bare UUID (SHOULD be an IRI)" in warnings(grade)
    assert not [w for w in warnings(grade) if "maxScore" in w or "scoreGiven" in w]  # integers are numbers
    content = learn("content-events.json")
    for i, problems in enumerate(content):
        assert f"data[{i}]: repaired: raw control characters inside strings" in warnings(problems)
        assert f"data[{i}].type: Learn's own event type bb:ContentEvent (not a Caliper event type)" in warnings(problems)
    forum = learn("forum-events.json")[0]
    assert "data[0].object.type: Learn's own type bb:Forum (not a Caliper type)" in warnings(forum)
    assert "data[0].object.@context: nested @context repeats the event's (SHOULD be left out)" in warnings(forum)
    course_group = learn("course-group-events.json")[0]
    assert "data[0].membership.roles: empty list (SHOULD be left out)" in warnings(course_group)


def test_isPartOf_mismatch_in_assessment_events_2() -> None:
    started, _completed = learn("assessment-events-2.json")
    (mismatch,) = [w for w in warnings(started) if "disagrees" in w]
    assert mismatch.startswith("data[0].object.isPartOf.id: id 'https://caliper-mapping.cloudbb.blackboard.com/v1/sites/54b54b42-dd02-42f8-88ed-07bd719bfb7cc/assessments/_12345_1'")
    assert "for the same Assessment" in mismatch


def test_learn_10_quirks_are_tolerated() -> None:
    minimal_user = {
        "@context": "http://purl.imsglobal.org/ctx/caliper/v1/Context",
        "@type": "http://caliper.blackboard.com/caliper/v1/CourseGroupEvent",
        "actor": {"@id": "https://x.example/users/1", "@type": "http://purl.imsglobal.org/caliper/v1/lis/Person"},
        "action": "http://purl.imsglobal.org/vocab/caliper/v1/action#Created",
        "object": {
            "@id": "https://x.example/courses/c/groups/_1_1",
            "@type": "http://purl.imsglobal.org/caliper/v1/lis/Group",
            "extensions": {"bb:group.users": '[{"courseMembershipId":"_1126_1"}]'},
        },
        "generated": {
            "@id": "https://x.example/minimalUser/Some(_201_1)",
            "@type": "http://caliper.blackboard.com/caliper/v1/MiniUser",
        },
        "eventTime": "2016-11-29T18:39:33.482Z",
        "target": None,
    }
    problems = validate(one(minimal_user))
    assert errors(problems) == []
    found = warnings(problems)
    assert "object.extensions.bb:group.users: JSON encoded in a string where a list belongs" in found
    assert "generated.id: id embeds a Scala Option: 'https://x.example/minimalUser/Some(_201_1)'" in found
    assert "type: Learn's own event type bb:CourseGroupEvent (not a Caliper event type)" in found
    assert errors(validate(one(minimal_user), strict=True)) == [
        "type: Learn's own event type bb:CourseGroupEvent (not a Caliper event type)",
        "generated.type: Learn's own type bb:MiniUser (not a Caliper type)",
    ]


# -- whole inputs ------------------------------------------------------------------------------


def test_validate_items_reports_counts_per_input() -> None:
    report = validate_items(read_path(SPEC / "v1p2" / "caliperEnvelopeMixedBatch.json"), strict=True)
    assert isinstance(report, Report)
    assert report.events == report.accepted > 1
    assert report.rejected == report.errors == 0
    assert report.ok
    assert report.source is not None
    assert report.source.endswith("caliperEnvelopeMixedBatch.json")
    lenient = validate_items(read_path(LEARN / "assessment-events-2.json"))
    assert (lenient.events, lenient.accepted, lenient.rejected) == (2, 2, 0)
    assert lenient.warnings == len(lenient.problems) > 0
    bad = validate_items(read_path(SPEC / "v1p2" / "commonErrorFixtures"), strict=True)
    assert bad.rejected == bad.events
    assert bad.errors >= bad.events
    assert msgspec.json.decode(msgspec.json.encode(bad))["rejected"] == bad.rejected


# -- numbers as the spec's JSON Schemas type them -------------------------------------------------

SCHEMAS = SPEC / "json_schema"
_XSD_KIND = {"decimal": "decimal", "integer": "integer", "long": "integer", "nonNegativeInteger": "count"}


def _number_properties() -> list[tuple[str, str, str, str]]:
    """(schema folder, entity type, property, XSD type) of every ``"type": "number"`` property."""
    found = []
    for folder in ("schema_1_1", "schema_1_2"):
        for path in sorted((SCHEMAS / folder).glob("*.json")):
            schema = json.loads(path.read_text())
            for name, prop in schema.get("properties", {}).items():
                if prop.get("type") == "number":
                    found.append((folder, schema["title"], name, prop["definedBy"].rsplit("#", 1)[1]))
    return found


def test_every_number_typed_schema_property_has_its_xsd_kind() -> None:
    from caliper_stream.validate import rules

    found = _number_properties()
    assert len(found) > 100
    xsd_of = {name: xsd for _, _, name, xsd in found if name != "metric"}  # 1.1 types the Metric term as a number
    checked = set()
    for owner, table in rules.PROPERTIES.items():
        for name, kind in table.items():
            if name in xsd_of and kind.base != "number":  # "number": 1.0's deprecated Result scores
                assert kind.base == _XSD_KIND[xsd_of[name]], (owner, name, xsd_of[name], kind.base)
                checked.add(name)
    assert checked >= set(xsd_of) - {"normalScore", "penaltyScore", "extraCreditScore", "totalScore", "curvedTotalScore", "curveFactor"}


def test_integers_are_decimal_numbers_and_counts_are_whole() -> None:
    grade = fixture("caliperEventGradeGraded.json")
    grade["generated"]["maxScore"] = 300
    grade["generated"]["scoreGiven"] = 10
    assert errors(validate(one(grade), strict=True)) == []
    assessment = copy.deepcopy(fixture("caliperEventAssessmentStarted.json"))
    assessment["object"]["maxAttempts"] = 2.5
    assessment["object"]["maxSubmits"] = -1
    assert errors(validate(one(assessment), strict=True)) == [
        "object.maxAttempts: expected non-negative integer, got number",
        "object.maxSubmits: expected non-negative integer, got -1",
    ]
