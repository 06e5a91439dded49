"""Writing canonical documents as Caliper 1.1 or 1.2 JSON, and the raw bytes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from caliper_stream.event import Event, decode
from caliper_stream.read import read_bytes, read_path
from caliper_stream.validate import validate
from caliper_stream.write import prepare, write, write_envelope, write_raw
from refdata import LEARN, SPEC

V11 = "http://purl.imsglobal.org/ctx/caliper/v1p1"
V12 = "http://purl.imsglobal.org/ctx/caliper/v1p2"
LEARN_CONTEXT = "http://caliper.blackboard.com/ctx/caliper/v1/Context"


def events(path: Path) -> list[Event]:
    return [decode(item) for item in read_path(path)]


def as_json(data: bytes) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(data)
    return loaded


def test_a_12_event_in_either_version() -> None:
    (event,) = events(SPEC / "v1p2" / "caliperEventViewViewedDocument.json")
    own = as_json(write(event))
    assert own == event.json()
    assert as_json(write(event, "1.1"))["@context"] == V11
    assert {k: v for k, v in as_json(write(event, "1.1")).items() if k != "@context"} == {
        k: v for k, v in own.items() if k != "@context"
    }


def test_the_context_comes_first() -> None:
    (event,) = events(SPEC / "v1p1" / "caliperEventViewViewedDocument.json")
    assert write(event, "1.2").startswith(b'{"@context":"' + V12.encode() + b'"')


def test_learn_types_go_back_to_learn_iris_under_learn_context() -> None:
    forum = events(LEARN / "forum-events.json")[0]
    out = as_json(write(forum))
    assert out["@context"] == [LEARN_CONTEXT, V11]
    assert out["type"] == "http://caliper.blackboard.com/caliper/v1/ForumEvent"
    assert out["object"]["type"] == "http://caliper.blackboard.com/caliper/v1/Forum"
    assert out["actor"]["type"] == "Person"
    assert "@context" not in out["object"]  # nested duplicates are not written
    as_12 = as_json(write(forum, "1.2"))
    assert as_12["@context"] == [LEARN_CONTEXT, V12]


def test_a_learn_type_in_a_plain_caliper_event_brings_learn_context() -> None:
    doc = {"@context": V11, "type": "ViewEvent", "object": {"id": "https://x/1", "type": "bb:Content"}}
    assert prepare(doc)["@context"] == [LEARN_CONTEXT, V11]


def test_a_10_event_is_written_as_11_without_inventions() -> None:
    (event,) = events(SPEC / "v1p0" / "caliperAssessmentOutcomeEvent.json")
    out = as_json(write(event))
    assert out["@context"] == V11
    assert out["type"] == "OutcomeEvent"
    assert out["action"] == "Graded"
    assert out["object"]["assignee"] == "https://example.edu/user/554433"
    assert "id" not in out  # 1.0 events have no id, and none is minted
    assert "target" not in out  # null
    assert "profile" not in as_json(write(event, "1.2"))
    assert b"@id" not in write(event)
    assert b"@type" not in write(event)


def test_extension_contexts_and_foreign_contexts() -> None:
    (survey,) = events(SPEC / "v1p1" / "caliperEventSurveyOptedIn.json")
    assert as_json(write(survey))["@context"] == survey.json()["@context"]
    assert as_json(write(survey, "1.2"))["@context"] == V12  # the 1.2 context has the profile
    (multi,) = events(SPEC / "v1p1" / "caliperEventMediaPausedVideoMultiContext.json")
    assert as_json(write(multi, "1.2"))["@context"] == ["https://some.domain.com/caliper/ctx/v1p1", V12]
    (inline,) = events(SPEC / "v1p2" / "caliperEventMessagePostedInlineContext.json")
    assert as_json(write(inline))["@context"] == inline.json()["@context"]


def test_documents_as_well_as_events() -> None:
    doc = {
        "@context": "http://purl.imsglobal.org/ctx/caliper/v1/Context",
        "@type": "http://purl.imsglobal.org/caliper/v1/Session",
        "@id": "https://x/s/1",
        "actor": "https://x/u/1",
        "endedAtTime": None,
    }
    assert as_json(write(doc)) == {"@context": V11, "type": "Session", "id": "https://x/s/1", "user": "https://x/u/1"}


def test_only_11_and_12_can_be_written() -> None:
    (event,) = events(SPEC / "v1p2" / "caliperEventViewViewedDocument.json")
    with pytest.raises(ValueError, match=r"cannot write Caliper '1\.0'"):
        write(event, "1.0")
    with pytest.raises(ValueError, match="cannot write Caliper"):
        write_envelope([event], sensor="https://example.edu/s", send_time="2016-11-15T11:05:01.000Z", version="1.0")


def test_write_raw_returns_the_bytes_received() -> None:
    for event in events(LEARN / "content-events.json"):
        assert write_raw(event) == event.raw
        assert b"\n" in event.raw  # Learn's raw control characters, untouched


def test_write_envelope() -> None:
    found = events(SPEC / "v1p2" / "caliperEnvelopeEventBatch.json")
    body = write_envelope(found, sensor="https://example.edu/sensors/1", send_time="2016-11-15T11:05:01.000Z", version="1.2")
    out = as_json(body)
    assert list(out) == ["sensor", "sendTime", "dataVersion", "data"]
    assert out["dataVersion"] == V12
    assert len(out["data"]) == len(found)
    again = [decode(item) for item in read_bytes(body)]
    assert [e.document() for e in again] == [e.document() for e in found]
    for event in again:
        assert [p for p in validate(event, strict=True) if p.severity == "error"] == []


def test_written_learn_samples_validate_as_before() -> None:
    for path in sorted(LEARN.glob("*.json")):
        for event in events(path):
            (again,) = [decode(item) for item in read_bytes(write(event))]
            assert again.key == event.key, path.name
            assert [p for p in validate(again) if p.severity == "error"] == []
