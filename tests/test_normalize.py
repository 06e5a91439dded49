"""The canonical document: 1.0 and Learn's forms in Caliper 1.1/1.2 terms, nothing lost."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from caliper_stream.event import Event, decode
from caliper_stream.normalize import normalize
from caliper_stream.read import read_bytes, read_path
from refdata import LEARN, SPEC, seed_payloads

V10 = "http://purl.imsglobal.org/ctx/caliper/v1/Context"
CALIPER = "http://purl.imsglobal.org/caliper/v1/"


def events(path: Path) -> list[Event]:
    return [decode(item) for item in read_path(path)]


def all_fixture_events() -> list[Event]:
    found = []
    for folder in ("v1p0", "v1p1", "v1p2"):
        for path in sorted((SPEC / folder).glob("*.json")):
            found += events(path)
    for path in sorted(LEARN.glob("*.json")):
        found += events(path)
    return found


def test_caliper_10_becomes_terms_and_11_names() -> None:
    (event,) = events(SPEC / "v1p0" / "caliperAssessmentOutcomeEvent.json")
    doc = event.document()
    assert doc["@context"] == V10  # the event's own context, as given
    assert doc["type"] == "OutcomeEvent"
    assert doc["action"] == "Graded"
    assert doc["actor"] == {
        "id": "https://example.edu/user/554433",
        "type": "Person",
        "extensions": {},
        "dateCreated": "2015-08-01T06:00:00.000Z",
        "dateModified": "2015-09-02T11:30:00.000Z",
    }
    attempt = doc["object"]
    assert "@context" not in attempt  # nested duplicate dropped
    assert attempt["assignee"] == "https://example.edu/user/554433"  # 1.0 Attempt.actor
    assert "actor" not in attempt
    result = doc["generated"]
    assert result["type"] == "Result"
    assert result["normalScore"] == 3.0
    assert result["curveFactor"] == 0.0
    assert result["actor"] == "https://example.edu/user/554433"  # Result.actor has no 1.1 rename
    assert doc["membership"]["roles"] == ["Learner"]
    assert doc["membership"]["status"] == "Active"
    assert doc["group"]["subOrganizationOf"]["type"] == "CourseSection"
    assert "target" not in doc
    assert "federatedSession" not in doc
    assert "@id" not in json.dumps(doc)
    assert "@type" not in json.dumps(doc)


def test_session_actor_and_navigated_from_are_renamed() -> None:
    (timeout,) = events(SPEC / "v1p0" / "caliperSessionTimeoutEvent.json")
    session = timeout.document()["object"]
    assert session["type"] == "Session"
    assert "user" in session
    assert "actor" not in session
    (navigation,) = [e for e in events(SPEC / "v1p0" / "eventStorePayload.json") if e.type == "NavigationEvent"]
    doc = navigation.document()
    assert doc["referrer"]["type"] == "WebPage"
    assert "navigatedFrom" not in doc
    assert doc["object"]["type"] == "EpubVolume"


def test_renames_apply_to_caliper_10_only() -> None:
    doc = {"type": "Attempt", "id": "urn:x", "actor": "a"}
    assert normalize(doc, "1.1") == doc
    assert normalize(doc, "1.0") == {"type": "Attempt", "id": "urn:x", "assignee": "a"}


def test_learn_types_become_bb_terms_and_nested_contexts_go() -> None:
    forum = events(LEARN / "forum-events.json")[0].document()
    assert forum["type"] == "bb:ForumEvent"
    assert forum["object"]["type"] == "bb:Forum"
    assert forum["generated"]["type"] == "bb:ForumPost"
    assert forum["@context"] == [
        "http://caliper.blackboard.com/ctx/caliper/v1/Context",
        "http://purl.imsglobal.org/ctx/caliper/v1p1",
    ]
    assert "@context" not in forum["object"]
    assert "@context" not in forum["generated"]
    # Learn's own properties and extensions are kept
    assert "threadPointsPossible" in forum["object"]
    assert forum["actor"]["extensions"]["bb:user.id"] == "_12345_1"


def test_a_nested_context_that_adds_something_is_kept() -> None:
    doc = {
        "@context": "http://purl.imsglobal.org/ctx/caliper/v1p1",
        "type": "Event",
        "object": {"@context": "http://example.org/ctx", "type": "Thesis", "id": "urn:t"},
    }
    assert normalize(doc, "1.1")["object"]["@context"] == "http://example.org/ctx"


def test_json_encoded_lists_are_parsed() -> None:
    users = '[{"courseMembershipId":"_1126_1"},{"courseMembershipId":"_1127_1"}]'
    doc = {
        "@context": V10,
        "@type": "http://caliper.blackboard.com/caliper/v1/CourseGroupEvent",
        "group": {"@type": CALIPER + "lis/Group", "@id": "g", "extensions": {"bb:group.users": users}},
        "object": {"@type": CALIPER + "Assessment", "@id": "a", "keywords": '["x", "y"]'},
    }
    out = normalize(doc, "1.0")
    assert out["type"] == "bb:CourseGroupEvent"
    assert out["group"]["extensions"]["bb:group.users"] == [
        {"courseMembershipId": "_1126_1"},
        {"courseMembershipId": "_1127_1"},
    ]
    assert out["object"]["keywords"] == ["x", "y"]
    # a string that is not a JSON list stays as sent
    assert normalize({"keywords": "[not json"}, "1.1") == {"keywords": "[not json"}


def test_nothing_is_lost() -> None:
    doc = {
        "id": "urn:uuid:5e1ed7a2-1d62-4d3c-8bb0-8b7bf8b0b4a5",
        "type": "Event",
        "customThing": {"@id": "kept?", "nested": [1, None, {"type": "Person"}]},
        "extensions": {"@id": "opaque", "nothing": None, "list": "[1]"},
        "empty": [],
        "emptier": {},
    }
    out = normalize(doc, "1.1")
    assert out["customThing"] == {"id": "kept?", "nested": [1, None, {"type": "Person"}]}
    assert out["extensions"] == doc["extensions"]  # custom data: untouched
    assert out["empty"] == []
    assert out["emptier"] == {}


def test_a_conflicting_rename_keeps_both_properties() -> None:
    doc = {"@id": "a", "id": "b", "type": "Attempt", "actor": "x", "assignee": "y"}
    out = normalize(doc, "1.0")
    assert out == {"@id": "a", "id": "b", "type": "Attempt", "actor": "x", "assignee": "y"}


def test_learn_10_outcome_seed() -> None:
    (payload,) = seed_payloads("outcome-events.md")
    docs = [decode(item).document() for item in read_bytes(payload)]
    assert [d["type"] for d in docs] == ["OutcomeEvent", "OutcomeEvent"]
    first = docs[0]
    assert first["object"]["assignee"].endswith("/users/c56ca36b2c004550b7df20606d3ce48b")
    assert first["generated"]["normalScore"] == 0.0
    assert first["membership"]["status"] == "Active"
    assert "comment" not in first["generated"]  # null


@pytest.mark.parametrize("value", [None, 1, 1.5, "x", [], [1, {"@id": "a"}], True])
def test_anything_but_an_object_gives_an_empty_document(value: Any) -> None:
    assert normalize(value, "1.1") == {}


def test_weird_shapes_do_not_raise() -> None:
    weird = {
        "@context": {"inline": "x"},
        "@type": 5,
        "type": ["a"],
        "action": None,
        "roles": ["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner", 3, {"@id": "r"}],
        "status": 7,
        "keywords": "[[[",
        "extensions": "not an object",
        "object": [[[{"@context": None}]]],
    }
    out = normalize(weird, "1.0")
    assert out["roles"] == ["Learner", 3, {"id": "r"}]
    assert out["extensions"] == "not an object"


def test_normalizing_is_idempotent_over_every_fixture() -> None:
    for event in all_fixture_events():
        if not isinstance(event.json(), dict):
            continue
        doc = event.document()
        assert normalize(doc, event.version) == doc
        assert normalize(doc, "1.1") == doc, event.path
