"""Coursework and grading events: assignments, tests and their questions, grades, snapshots.

The seven grading use cases and ``bb:action.name``
---------------------------------------------------
Learn documents one value of ``generated.extensions["bb:action.name"]``:
``instructor.grade.history.event.attempt.grade``. The other use cases follow the same pattern,
``{who}.grade.history.event.{what}.{verb}``, where *who* is the role that caused the change
(``student``, ``instructor``, or ``user`` for any role), *what* the record changed (``attempt``,
``group.attempt``, ``test.attempt``, ``manual``, ``override``) and *verb* what happened:

=============================================  ==================================================  ==========
use case                                       bb:action.name                                      delivery
=============================================  ==================================================  ==========
student submits an assignment                  student.grade.history.event.attempt.submit          immediate
student submits a group assignment             student.grade.history.event.group.attempt.submit    immediate
student submits a test                         student.grade.history.event.test.attempt.submit     immediate
instructor enters a grade                      instructor.grade.history.event.attempt.grade        nightly
instructor enters comments or feedback         instructor.grade.history.event.attempt.feedback     nightly
any user updates feedback                      user.grade.history.event.attempt.feedback.update    nightly
instructor posts a manual grade                instructor.grade.history.event.manual.grade         nightly
instructor overrides a grade                   instructor.grade.history.event.override.grade       nightly
instructor clears an overridden grade          instructor.grade.history.event.override.clear       nightly
instructor deletes an attempt                  instructor.grade.history.event.attempt.delete       nightly
=============================================  ==================================================  ==========

Submissions are graded (or marked "needs grading") the moment they arrive, so Learn sends them
immediately; everything an instructor does in the grade history goes out in the nightly bulk.
A cleared override carries the score that applies again; a deleted attempt carries no score.
In Caliper 1.0 the same events are OutcomeEvents whose Result keeps the action name in its
``extensions`` (the seed page shows them empty), so that the cases stay distinguishable.
"""

from __future__ import annotations

from typing import Any

from caliper_stream.sensor.builders.base import (
    Built,
    Course,
    CourseGroup,
    Delivery,
    GradableItem,
    Json,
    Learn,
    Question,
    Session,
    Time,
    User,
    bb_entity,
    envelope_event,
    to_v1p0,
    ts,
    user_event,
)

_EMPTY: list[Any] = []

SUBMIT_ASSIGNMENT = "student.grade.history.event.attempt.submit"
SUBMIT_GROUP_ASSIGNMENT = "student.grade.history.event.group.attempt.submit"
SUBMIT_TEST = "student.grade.history.event.test.attempt.submit"
GRADE = "instructor.grade.history.event.attempt.grade"
FEEDBACK = "instructor.grade.history.event.attempt.feedback"
FEEDBACK_UPDATE = "user.grade.history.event.attempt.feedback.update"
MANUAL_GRADE = "instructor.grade.history.event.manual.grade"
OVERRIDE = "instructor.grade.history.event.override.grade"
CLEAR_OVERRIDE = "instructor.grade.history.event.override.clear"
DELETE_ATTEMPT = "instructor.grade.history.event.attempt.delete"

#: Every grade action name and how Learn delivers it (see the module docstring).
GRADE_ACTIONS: dict[str, Delivery] = {
    SUBMIT_ASSIGNMENT: "immediate",
    SUBMIT_GROUP_ASSIGNMENT: "immediate",
    SUBMIT_TEST: "immediate",
    GRADE: "nightly",
    FEEDBACK: "nightly",
    FEEDBACK_UPDATE: "nightly",
    MANUAL_GRADE: "nightly",
    OVERRIDE: "nightly",
    CLEAR_OVERRIDE: "nightly",
    DELETE_ATTEMPT: "nightly",
}

#: Learn question type → the Caliper Response type of a completed AssessmentItemEvent.
RESPONSE_TYPES = {
    "MultipleAnswer": "MultipleResponseResponse",
    "MultipleChoice": "MultipleChoiceResponse",
    "TrueFalse": "TrueFalseResponse",
    "Essay": "FillinBlankResponse",
    "ShortAnswer": "FillinBlankResponse",
    "FillInTheBlank": "FillinBlankResponse",
    "Matching": "SelectTextResponse",
    "Ordering": "SelectTextResponse",
}
_LIST_VALUED = {"MultipleResponseResponse", "FillinBlankResponse", "SelectTextResponse"}


def duration(seconds: float) -> str:
    """ISO 8601 duration (``PT1H2M3.456S``) as Caliper writes it."""
    ms = round(seconds * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s = rest / 1000
    out = "PT" + (f"{h}H" if h else "") + (f"{m}M" if m else "")
    return out + (f"{s:g}S" if s or out == "PT" else "")


def _ended(target: Json, ended: Time | None, seconds: float | None) -> None:
    if ended is not None:
        target["endedAtTime"] = ts(ended)
        if seconds is not None:
            target["duration"] = duration(seconds)


def _assignable(learn: Learn, item: GradableItem) -> Json:
    out: Json = {}
    if item.due is not None:
        out["dateToSubmit"] = item.due
    out.update(maxAttempts=item.max_attempts, maxSubmits=0, maxScore=item.max_score)
    out.update(id=learn.iri("gradableItems/" + item.pk), type="AssignableDigitalResource", name=item.name)
    out.update(creators=_EMPTY, learningObjectives=_EMPTY, keywords=_EMPTY)
    return out


def _assessment(learn: Learn, item: GradableItem, *, part_of: bool = False) -> Json:
    out: Json = {}
    if item.due is not None:
        out["dateToSubmit"] = item.due
    out.update(maxAttempts=item.max_attempts, maxSubmits=0, maxScore=item.max_score)
    out.update(id=learn.iri(f"assessments/{item.assessment_pk}"), type="Assessment", name=item.name)
    if part_of:
        ext = {
            "bb:assessment.categoryId": item.category_pk,
            "bb:assessment.categoryName": item.category,
            "bb:assessment.catUserDefined": "false",
            "bb:assessment.gradeableItemId": item.pk,
        }
    else:
        ext = {
            "bb:assessment.categoryId": item.category_pk,
            "bb:assessment.categoryName": item.category,
            "bb:contentId": item.content_pk,
            "bb:assessment.gradeableItemId": item.pk,
            "bb:assessment.catUserDefined": "false",
        }
    out.update(extensions=ext, creators=_EMPTY, learningObjectives=_EMPTY, keywords=_EMPTY, items=_EMPTY)
    return out


def _attempt(learn: Learn, iri: str, assignable: Json, user: User, started: str, count: int) -> Json:
    return {
        "startedAtTime": started,
        "id": iri,
        "type": "Attempt",
        "assignable": assignable,
        "assignee": learn.person(user),
        "count": count,
    }


def assignable_event(
    learn: Learn,
    user: User,
    course: Course,
    item: GradableItem,
    action: str,
    at: Time,
    session: Session,
    *,
    attempt_pk: str,
    started: Time,
    count: int = 1,
    ended: Time | None = None,
    seconds: float | None = None,
    group: CourseGroup | None = None,
) -> Built:
    """AssignableEvent Started / Submitted / Completed of an assignment or a group assignment.

    For a group assignment ``group`` is the Group (its course in ``subOrganizationOf``) and the
    members are listed in ``extensions.bb:group.users`` as ``{id, uuid, batchUid}``."""
    at, started_s = ts(at), ts(started)
    obj = _assignable(learn, item)
    attempt = _attempt(learn, learn.iri(f"gradableItems/{item.pk}/attempts/{attempt_pk}"), obj, user, started_s, count)
    _ended(attempt, ended, seconds)
    extensions = None
    if group is not None:
        extensions = {"bb:group.users": [{"id": u.pk, "uuid": u.uuid, "batchUid": u.external_id} for u in group.members]}
    return user_event(
        learn, "AssignableEvent", user, course, action, obj, at, session,
        generated=attempt, group=learn.group(group) if group is not None else learn.course(course), extensions=extensions,
    )


def assessment_event(
    learn: Learn,
    user: User,
    course: Course,
    item: GradableItem,
    action: str,
    at: Time,
    session: Session,
    *,
    attempt_pk: str,
    started: Time,
    count: int = 1,
    ended: Time | None = None,
    seconds: float | None = None,
) -> Built:
    """AssessmentEvent Started / Submitted of a test (``item.assessment_pk`` set)."""
    at, started_s = ts(at), ts(started)
    obj = _assessment(learn, item)
    attempt = _attempt(learn, learn.iri(f"gradableItems/{item.pk}/attempts/{attempt_pk}"), obj, user, started_s, count)
    _ended(attempt, ended, seconds)
    return user_event(
        learn, "AssessmentEvent", user, course, action, obj, at, session,
        generated=attempt, group=learn.course(course),
    )


def assessment_item_event(
    learn: Learn,
    user: User,
    course: Course,
    item: GradableItem,
    question: Question,
    action: str,
    at: Time,
    session: Session,
    *,
    attempt_pk: str,
    started: Time,
    count: int = 1,
    ended: Time | None = None,
    seconds: float | None = None,
) -> Built:
    """AssessmentItemEvent Started (generated Attempt) / Completed (generated Response).

    The Response type follows the question type (`RESPONSE_TYPES`) and carries
    ``bb:questionType``; like Learn it never carries the answer (``values: []``)."""
    at, started_s = ts(at), ts(started)
    q_iri = learn.iri(f"assessments/{item.assessment_pk}/questions/{question.pk}")
    obj: Json = {
        "maxAttempts": 0,
        "maxSubmits": 0,
        "maxScore": 0,
        "id": q_iri,
        "type": "AssessmentItem",
        "creators": _EMPTY,
        "learningObjectives": _EMPTY,
        "keywords": _EMPTY,
        "isPartOf": _assessment(learn, item, part_of=True),
    }
    attempt = _attempt(learn, f"{q_iri}/attempts/{attempt_pk}", obj, user, started_s, count)
    generated: Json
    if action == "Started":
        generated = attempt
    else:
        kind = RESPONSE_TYPES.get(question.question_type, "FillinBlankResponse")
        generated = {
            "startedAtTime": started_s,
            "id": attempt["id"] + "/response",
            "type": kind,
            "extensions": {"bb:questionType": question.question_type},
            "attempt": attempt,
        }
        _ended(generated, ended, seconds)
        if kind in _LIST_VALUED:
            generated["values"] = _EMPTY
    return user_event(
        learn, "AssessmentItemEvent", user, course, action, obj, at, session,
        generated=generated, group=learn.course(course),
    )


def grade_event(
    learn: Learn,
    user: User,
    course: Course,
    item: GradableItem,
    action_name: str,
    at: Time,
    *,
    attempt_pk: str,
    started: Time,
    score: float | None,
    count: int = 1,
    provider_domain: str | None = None,
    comment: str | None = None,
) -> Built:
    """GradeEvent Graded (1.1) or OutcomeEvent Graded (1.0) for one of the seven use cases.

    ``action_name`` is one of `GRADE_ACTIONS`; it decides the delivery (immediate or nightly).
    ``score`` None (a deleted attempt) leaves ``scoreGiven`` out (1.0: ``normalScore`` null)."""
    if action_name not in GRADE_ACTIONS:
        raise ValueError(f"unknown bb:action.name {action_name!r}; expected one of {sorted(GRADE_ACTIONS)}")
    delivery = GRADE_ACTIONS[action_name]
    at, started_s = ts(at), ts(started)
    attempt_iri = learn.iri(f"gradableItems/{item.pk}/attempts/{attempt_pk}")
    if learn.version == "1.0":
        return Built(_outcome(learn, user, course, item, action_name, at, attempt_iri, started_s, score, count, comment), delivery)
    assignable: Json = {}
    if item.due is not None:
        assignable["dateToSubmit"] = item.due
    assignable.update(maxAttempts=item.max_attempts, maxSubmits=0, maxScore=item.max_score)
    assignable.update(id=learn.iri("gradableItems/" + item.pk), type="Assessment", dateCreated=started_s, dateModified=at)
    assignable.update(creators=_EMPTY, learningObjectives=_EMPTY, keywords=_EMPTY, items=_EMPTY)
    attempt = _attempt(learn, attempt_iri, assignable, user, started_s, count)
    extensions: Json = {"bb:action.name": action_name, "bb:content.id": item.content_pk}
    if provider_domain is not None:
        extensions["bb:provider.domain"] = provider_domain
    generated: Json = {
        "id": attempt_iri + "/score",
        "type": "Score",
        "dateCreated": at,
        "dateModified": at,
        "extensions": extensions,
        "attempt": attempt,
        "maxScore": 0,
    }
    if score is not None:
        generated["scoreGiven"] = score
    if comment is not None:
        generated["comment"] = comment
    generated["scoredBy"] = learn.app
    event = envelope_event(
        learn,
        "GradeEvent",
        learn.app,
        "Graded",
        attempt,
        at,
        generated=generated,
        group=learn.course(course),
        membership=learn.membership(user, course, "Learner"),
    )
    return Built(event, delivery)


def _outcome(
    learn: Learn,
    user: User,
    course: Course,
    item: GradableItem,
    action_name: str,
    at: str,
    attempt_iri: str,
    started: str,
    score: float | None,
    count: int,
    comment: str | None,
) -> Json:
    """The 1.0 OutcomeEvent as on Learn's outcome page: the student as actor, a Result."""
    person = learn.person(user)
    item_iri = learn.iri("gradableItems/" + item.pk)
    attempt = {"id": attempt_iri, "type": "Attempt", "assignable": item_iri, "assignee": person, "count": count, "startedAtTime": started}
    result = {
        "id": attempt_iri + "/result",
        "type": "Result",
        "extensions": {"bb:action.name": action_name},
        "dateCreated": at,
        "assignable": item_iri,
        "actor": person,
        "normalScore": float(score) if score is not None else None,
        "penaltyScore": 0.0,
        "extraCreditScore": 0.0,
        "totalScore": 0.0 if score is not None else None,
        "curvedTotalScore": 0.0,
        "curveFactor": 0.0,
        "comment": comment,
        "scoredBy": learn.app,
    }
    event = {
        "type": "OutcomeEvent",
        "actor": person,
        "action": "Graded",
        "object": attempt,
        "generated": result,
        "eventTime": at,
        "edApp": learn.app,
        "group": learn.course(course),
        "membership": learn.membership(user, course, None),
    }
    return to_v1p0(event)


def calculated_grade_event(
    learn: Learn,
    user: User,
    course: Course,
    at: Time,
    *,
    item_pk: str,
    sync_version: int,
    score_possible: float,
    is_course_grade: bool = False,
) -> Built:
    """CalculatedGradeSnapshotEvent Graded: a recalculated total or calculated column (nightly).

    Like Learn's samples it carries ``scorePossible`` but no score."""
    at = ts(at)
    obj = bb_entity(
        "CalculatedGrade",
        learn.iri(f"gradableItems/{item_pk}/calculatedGrade/{sync_version}"),
        name="",
        description="",
        itemId=item_pk,
        scorePossible=score_possible,
        isCourseGrade=is_course_grade,
        syncVersion=sync_version,
        user=learn.person(user),
        course=learn.course(course),
        extensions={},
    )
    event = envelope_event(
        learn,
        "CalculatedGradeSnapshotEvent",
        learn.app,
        "Graded",
        obj,
        at,
        membership=learn.membership(user, course, "Learner"),
    )
    return learn.finish(event, "nightly")
