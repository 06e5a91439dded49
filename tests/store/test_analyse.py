"""The analytics questions, answered from a real store (SQLite and PostgreSQL) with known events."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec

from caliper_stream.analyse import activity, funnel, gradebook, items
from caliper_stream.ingest import prepare
from caliper_stream.read import read_bytes
from caliper_stream.store import Store

SITE = "https://caliper-mapping.cloudbb.blackboard.com/v1/sites/5173c6d0-6c0f-4a37-a5c1-000000000001"


def person(user: str) -> dict[str, Any]:
    return {"id": f"{SITE}/users/{user}", "type": "Person", "extensions": {"bb:user.id": f"_{user}_1", "bb:user.externalId": f"ext-{user}"}}


def event(kind: str, action: str, at: str, user: str, obj: dict[str, Any], generated: dict[str, Any] | None = None, actor: Any = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "@context": "http://purl.imsglobal.org/ctx/caliper/v1p1",
        "id": f"urn:uuid:{uuid.uuid4()}",
        "type": kind,
        "action": action,
        "actor": actor or person(user),
        "object": obj,
        "eventTime": at,
        "group": {"id": f"{SITE}/courses/c1", "type": "CourseOffering", "courseNumber": "BIO-101", "extensions": {"bb:course.id": "_7_1"}},
        "federatedSession": {"id": f"{SITE}/sessions/S{user}", "type": "LtiSession"},
    }
    if generated is not None:
        doc["generated"] = generated
    return doc


def grade(user: str, at: str, score: float, action: str) -> dict[str, Any]:
    attempt = {"id": f"{SITE}/gradableItems/_1_1/attempts/_{user}9_1", "type": "Attempt", "assignee": person(user)}
    score_entity = {"id": attempt["id"] + "/score", "type": "Score", "scoreGiven": score, "maxScore": 10, "extensions": {"bb:action.name": action}}
    learn = {"id": f"{SITE}/applications/learn", "type": "SoftwareApplication"}
    return event("GradeEvent", "Graded", at, user, attempt, score_entity, actor=learn)


def test_event_stream(store: Store) -> None:
    assessment = {"id": f"{SITE}/assessments/_10_1", "type": "Assessment"}
    question = {"id": f"{SITE}/assessments/_10_1/questions/_20_1", "type": "AssessmentItem"}

    def test_attempt(user: str) -> dict[str, Any]:
        return {"id": f"{SITE}/gradableItems/_1_1/attempts/_{user}9_1", "type": "Attempt"}

    def item_attempt(user: str, response: bool = False) -> dict[str, Any]:
        base = f"{SITE}/assessments/_10_1/questions/_20_1/attempts/_{user}8_1"
        return {"id": base + ("/response" if response else ""), "type": "MultipleChoiceResponse" if response else "Attempt", "extensions": {"bb:questionType": "MultipleChoice"}}

    docs = [
        grade("1", "2021-01-04T10:00:00.000Z", 5, "student.submit.attempt"),
        grade("1", "2021-01-05T02:00:00.000Z", 8, "instructor.grade.history.event.attempt.grade"),
        grade("2", "2021-01-05T02:00:00.000Z", 3, "instructor.grade.history.event.attempt.grade"),
        event("AssessmentEvent", "Started", "2021-01-04T09:00:00.000Z", "1", assessment, test_attempt("1")),
        event("AssessmentEvent", "Submitted", "2021-01-04T09:59:00.000Z", "1", assessment, test_attempt("1")),
        event("AssessmentEvent", "Started", "2021-01-04T09:10:00.000Z", "2", assessment, test_attempt("2")),
        event("AssessmentEvent", "Started", "2021-01-04T09:20:00.000Z", "3", assessment, test_attempt("3")),
        event("AssessmentItemEvent", "Started", "2021-01-04T09:00:10.000Z", "1", question, item_attempt("1")),
        event("AssessmentItemEvent", "Completed", "2021-01-04T09:00:40.000Z", "1", question, item_attempt("1", True)),
        event("AssessmentItemEvent", "Started", "2021-01-04T09:10:00.000Z", "2", question, item_attempt("2")),
        event("AssessmentItemEvent", "Completed", "2021-01-04T09:11:30.000Z", "2", question, item_attempt("2", True)),
        event("AssessmentItemEvent", "Started", "2021-01-04T09:20:00.000Z", "3", question, item_attempt("3")),
    ]
    body = msgspec.json.encode({"sensor": "s", "sendTime": "2021-01-05T03:00:00.000Z", "data": docs})
    batch = prepare(read_bytes(body), source="test")
    assert not batch.dead_letters
    store.write(batch.rows, batch.dead_letters)

    book = {(r["user_pk"], r["gradable_item_pk"]): r for r in gradebook(store)}
    assert book[("_1_1", "_1_1")]["score"] == 8
    assert book[("_1_1", "_1_1")]["grade_events"] == 2
    assert book[("_1_1", "_1_1")]["grade_action"] == "instructor.grade.history.event.attempt.grade"
    assert book[("_2_1", "_1_1")]["score"] == 3
    assert book[("_1_1", "_1_1")]["max_score"] == 10
    assert [r["user_pk"] for r in gradebook(store, user="ext-2")] == ["_2_1"]
    assert gradebook(store, course="OTHER") == []

    (row,) = funnel(store, course="BIO-101")
    assert (row["assessment_pk"], row["gradable_item_pk"]) == ("_10_1", "_1_1")
    assert (row["started"], row["submitted"], row["abandoned"]) == (3, 1, 2)

    (timing,) = items(store)
    assert (timing["question_pk"], timing["question_type"], timing["attempts"], timing["completed"]) == ("_20_1", "MultipleChoice", 3, 2)
    assert (timing["median_seconds"], timing["p90_seconds"], timing["max_seconds"]) == (60.0, 90.0, 90.0)

    (course,) = activity(store)
    assert (course["course_number"], course["events"], course["users"]) == ("BIO-101", 12, 3)
    per_user = {r["user_pk"]: r["events"] for r in activity(store, by="user")}
    assert per_user == {"_1_1": 6, "_2_1": 4, "_3_1": 2}
    assert "users" not in activity(store, by="user")[0]
    days = {r["day"]: r["events"] for r in activity(store, by="day")}
    assert days == {"2021-01-04": 10, "2021-01-05": 2}
