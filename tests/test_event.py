"""Decoding: version detection per event, canonical terms, rejection, and the event key."""

from __future__ import annotations

import json

import msgspec
import pytest

from caliper_stream.event import canonical_time, decode
from caliper_stream.read import read_bytes, read_path
from refdata import LEARN, SPEC, seed_payloads


def one(body: bytes):  # type: ignore[no-untyped-def]
    (item,) = read_bytes(body)
    return decode(item)


def test_versions_detected_per_event_and_per_envelope() -> None:
    assert {decode(i).version for i in read_path(SPEC / "v1p0" / "caliperSessionLoginEvent.json")} == {"1.0"}
    assert {decode(i).version for i in read_path(SPEC / "v1p1" / "caliperEventViewViewedDocument.json")} == {"1.1"}
    assert {decode(i).version for i in read_path(SPEC / "v1p2" / "caliperEventViewViewedDocument.json")} == {"1.2"}
    # no @context on the event: the envelope's dataVersion decides
    env = b'{"sensor":"s","sendTime":"t","dataVersion":"http://purl.imsglobal.org/ctx/caliper/v1p2","data":[{"type":"ViewEvent","action":"Viewed","actor":"a","object":"o"}]}'
    assert one(env).version == "1.2"
    # Learn's 1.0 envelope has no dataVersion: @type decides
    (seed,) = seed_payloads("outcome-events.md")
    assert {decode(i).version for i in read_bytes(seed)} == {"1.0"}


def test_terms_for_iris_and_learn_types() -> None:
    e = one(b'{"@context":"http://purl.imsglobal.org/ctx/caliper/v1/Context","@type":"http://purl.imsglobal.org/caliper/v1/OutcomeEvent","action":"http://purl.imsglobal.org/vocab/caliper/v1/action#Graded","actor":"a","object":"o"}')
    assert (e.type, e.action, e.version) == ("OutcomeEvent", "Graded", "1.0")
    forum = [decode(i) for i in read_path(LEARN / "forum-events.json")]
    assert {e.type for e in forum} == {"bb:ForumEvent"}
    assert forum[0].keydata().object_type == "bb:Forum"


@pytest.mark.parametrize(
    ("body", "missing"),
    [
        (b'{"action":"Viewed","actor":"a","object":"o"}', "type"),
        (b'{"type":"ViewEvent","actor":"a","object":"o"}', "action"),
        (b'{"type":"ViewEvent","action":"Viewed","object":"o"}', "actor"),
        (b'{"type":"ViewEvent","action":"Viewed","actor":"a"}', "object"),
        (b'{"type":"ViewEvent","action":"Viewed","actor":"a","object":null}', "object"),
    ],
)
def test_not_an_event_is_rejected_with_the_reason(body: bytes, missing: str) -> None:
    e = one(body)
    assert e.rejection is not None
    assert missing in e.rejection.message


def test_mistyped_slots_are_tolerated_with_a_warning() -> None:
    e = one(b'{"type":"ViewEvent","action":"Viewed","actor":"a","object":"o","group":42,"membership":[1]}')
    assert e.accepted
    paths = {w.path for w in e.warnings}
    assert {"group", "membership"} <= paths


def test_learn_deviations_are_warnings_not_errors() -> None:
    events = [decode(i) for p in sorted(LEARN.glob("*.json")) for i in read_path(p)]
    assert all(e.accepted for e in events)
    assert any("bare UUID" in w.message for e in events for w in e.warnings)
    content = [decode(i) for i in read_path(LEARN / "content-events.json")]
    assert all(any("control characters" in w.message for w in e.warnings) for e in content)


def test_canonical_time() -> None:
    assert canonical_time("2021-01-04T12:59:47.248Z") == "2021-01-04T12:59:47.248Z"
    assert canonical_time("2021-01-04T13:59:47.248+01:00") == "2021-01-04T12:59:47.248Z"
    assert canonical_time("2021-01-04T12:59:47Z") == "2021-01-04T12:59:47.000Z"
    assert canonical_time("yesterday") == "yesterday"


# -- the event key -------------------------------------------------------------------------


def test_same_event_resent_gets_the_same_key() -> None:
    (first, second) = [decode(i) for i in read_path(LEARN / "forum-events.json")]
    doc = json.loads(first.raw)
    resent = json.dumps(dict(reversed(list(doc.items()))), indent=3).encode()  # other order, spacing
    other_envelope = b'{"sensor":"x","sendTime":"2030-01-01T00:00:00.000Z","data":[' + resent + b"]}"
    assert one(resent).key == first.key
    assert one(other_envelope).key == first.key
    assert first.key != second.key


def test_learn_events_sharing_an_id_get_different_keys() -> None:
    started, completed = (decode(i) for i in read_path(LEARN / "assessment-events-2.json"))
    assert started.id == completed.id
    assert started.key != completed.key


def test_events_without_id_are_keyed_by_content() -> None:
    (seed,) = seed_payloads("outcome-events.md")
    a, b = (decode(i) for i in read_bytes(seed))
    assert a.id is None
    assert b.id is None
    assert a.key != b.key
    assert [decode(i).key for i in read_bytes(seed)] == [a.key, b.key]


def test_key_changes_with_what_identifies_an_event() -> None:
    (base,) = (decode(i) for i in read_path(LEARN / "grade-events.json"))
    doc = json.loads(base.raw)

    def key_of(change) -> str:  # type: ignore[no-untyped-def]
        copy = json.loads(base.raw)
        change(copy)
        return one(msgspec.json.encode(copy)).key

    assert key_of(lambda d: None) == base.key
    assert key_of(lambda d: d.update(id="urn:uuid:0b4e7f8e-0000-4000-8000-000000000000")) != base.key
    assert key_of(lambda d: d.update(eventTime="2021-01-04T12:59:48.248Z")) != base.key
    assert key_of(lambda d: d["generated"].update(scoreGiven=40)) != base.key
    assert key_of(lambda d: d["object"].update(id=d["object"]["id"] + "0")) != base.key
    assert key_of(lambda d: d["generated"]["extensions"].update({"bb:action.name": "x"})) != base.key
    assert doc["type"] == "GradeEvent"
