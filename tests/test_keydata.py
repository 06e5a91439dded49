"""Learn's key data, checked against the values the documentation pages show."""

from __future__ import annotations

from caliper_stream.event import decode
from caliper_stream.keydata import FIELDS
from caliper_stream.read import read_bytes, read_path
from refdata import LEARN, seed_payloads

DOCUMENTED_FIELDS = ["event_key", "event_id", "version", "type", "action", "event_time", "send_time", "sensor", "site", "actor_id", "user_uuid", "user_pk", "user_external_id", "course_number", "course_pk", "roles", "object_id", "object_type", "gradable_item_pk", "assessment_pk", "question_pk", "attempt_pk", "score", "max_score", "grade_action", "question_type", "session_id", "started_at", "ended_at", "duration", "original_type"]


def records(path_or_bytes):  # type: ignore[no-untyped-def]
    items = read_bytes(path_or_bytes) if isinstance(path_or_bytes, bytes) else read_path(path_or_bytes)
    return [decode(i).keydata() for i in items]


def test_field_names_are_the_documented_ones() -> None:
    assert list(FIELDS) == DOCUMENTED_FIELDS


def test_seed_outcome_events() -> None:
    (payload,) = seed_payloads("outcome-events.md")
    first, second = records(payload)
    assert (first.course_number, second.course_number) == ("JOHN_TEST_002", "JOHN_TEST_002")
    assert (first.gradable_item_pk, second.gradable_item_pk) == ("_893_1", "_894_1")
    assert (first.attempt_pk, second.attempt_pk) == ("_9_1", "_10_1")
    assert (first.score, second.score) == (0.0, 10.0)
    assert {first.user_pk, second.user_pk} == {"_8510_1"}
    assert {first.user_external_id, second.user_external_id} == {"123-456-789-123"}
    assert first.version == "1.0"
    assert (first.type, first.original_type) == ("GradeEvent", "OutcomeEvent")  # 1.1 renamed it
    assert first.action == "Graded"
    assert first.site == "df1b6234-73e8-45a4-b953-4066760dfbda"
    assert first.sensor == "df1b6234-73e8-45a4-b953-4066760dfbda"
    assert first.event_id is None


def test_seed_assessment_events_link_items_by_segment() -> None:
    started_test, = records(seed_payloads("assessment-events.md")[0])
    assert started_test.type == "AssessmentEvent"
    assert started_test.assessment_pk == "_12345_1"
    item_started, item_completed = records(seed_payloads("assessment-events.md")[1])
    # Started: isPartOf's site uuid differs by one character; the pk still links it
    assert item_started.assessment_pk == "_12345_1"
    assert item_started.question_pk == "_12345_1"
    assert item_completed.assessment_pk == "_9058464_1"
    assert item_completed.question_pk == "_9058487_1"
    assert item_completed.question_type == "MultipleAnswer"
    assert item_completed.event_id == item_started.event_id
    assert item_completed.event_key != item_started.event_key


def test_grade_event_subject_is_the_student_not_learn() -> None:
    (r,) = records(LEARN / "grade-events.json")
    assert r.actor_id is not None
    assert r.actor_id.endswith("/applications/learn")
    assert r.user_uuid == "0e9625cdef42403c9c8aed38d7cd80b2"
    assert r.score == 39.45205
    assert r.max_score == 160.0  # Learn's Score.maxScore is 0; the assignable's maxScore is used
    assert r.grade_action == "instructor.grade.history.event.attempt.grade"
    assert (r.gradable_item_pk, r.attempt_pk, r.course_number) == ("_12345_1", "_12345_1", "BIO-101")


def test_course_found_where_learn_puts_it() -> None:
    (view,) = records(LEARN / "view-events.json")
    assert (view.course_number, view.course_pk, view.roles) == ("04650987_bbtest_ignore", "_1358_1", "Instructor")
    (snapshot,) = records(LEARN / "calculated-grade-snapshot-events.json")
    assert snapshot.course_number == "BIO-101"
    forum = records(LEARN / "forum-events.json")
    assert {r.course_number for r in forum} == {"BIO-101"}


def test_sessions_and_times() -> None:
    (login,) = records(LEARN / "session-events.json")
    assert login.type == "SessionEvent"
    assert login.action == "LoggedIn"
    assert login.session_id is not None
    assert login.session_id.endswith("/sessions/B287CEC440C99337012096F677684697")
    (assignable,) = records(LEARN / "assignable-events.json")
    assert assignable.session_id is None  # Learn's empty ".../sessions/" is no session
    assert assignable.started_at == "2021-01-05T14:51:14.512Z"
    assert assignable.max_score == 60.0


def test_every_learn_sample_has_its_core_fields() -> None:
    for path in sorted(LEARN.glob("*.json")):
        for r in records(path):
            for value in (r.type, r.action, r.event_time, r.site, r.actor_id, r.object_id):
                assert value, path
            assert r.user_pk, path
