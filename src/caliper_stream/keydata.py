"""Learn's key data: one flat record per event with the fields Blackboard's docs name.

Where each field comes from (first match wins; entities may be objects or bare IRIs):

==================  =========================================================================
site                the ``…/sites/{uuid}/…`` segment of the actor, object or edApp id
user (the subject)  the actor when it is a Person; otherwise the Person the event is about:
                    object.assignee / object.actor / object.user, generated.assignee,
                    membership.member (a GradeEvent's actor is Learn itself)
user_uuid           the ``…/users/{uuid}`` tail of the user's id
user_pk             ``bb:user.id`` of the user, else of the membership
user_external_id    ``bb:user.externalId`` (the batch_uid), same order
course_number       group.courseNumber, group.subOrganizationOf.courseNumber,
                    membership.organization.courseNumber, object.course.courseNumber,
                    membership ``bb:course.externalId``
course_pk           ``bb:course.id`` of the same entities
roles               membership.roles as terms, comma-separated
gradable_item_pk    ``…/gradableItems/{pk}`` in object, generated and their assignable/attempt,
                    else ``bb:assessment.gradeableItemId``
assessment_pk       ``…/assessments/{pk}`` (matched by segment, never by whole-IRI equality:
                    Learn's isPartOf ids can differ from the assessment's own id)
question_pk         ``…/assessments/{pk}/questions/{pk}``
attempt_pk          ``…/attempts/{pk}``
score               generated.scoreGiven (1.1 Score), normalScore (1.0 Result), resultScore
max_score           generated.maxScore / maxResultScore when positive, else the assignable's
                    maxScore (Learn sends Score.maxScore 0)
grade_action        generated ``bb:action.name``
question_type       generated (else object) ``bb:questionType``
session_id          federatedSession or session id (Learn's empty ``…/sessions/`` is none)
started_at, …       the Attempt, Response or Session times: generated first, then object
==================  =========================================================================
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import msgspec

from caliper_stream.model.views import EventView, Org
from caliper_stream.vocab import term

if TYPE_CHECKING:
    from caliper_stream.event import Event


class KeyData(msgspec.Struct, omit_defaults=False):
    """The flat key-data record; field names are the documented column names."""

    event_key: str
    event_id: str | None = None
    version: str | None = None
    type: str | None = None
    action: str | None = None
    event_time: str | None = None
    send_time: str | None = None
    sensor: str | None = None
    site: str | None = None
    actor_id: str | None = None
    user_uuid: str | None = None
    user_pk: str | None = None
    user_external_id: str | None = None
    course_number: str | None = None
    course_pk: str | None = None
    roles: str | None = None
    object_id: str | None = None
    object_type: str | None = None
    gradable_item_pk: str | None = None
    assessment_pk: str | None = None
    question_pk: str | None = None
    attempt_pk: str | None = None
    score: float | None = None
    max_score: float | None = None
    grade_action: str | None = None
    question_type: str | None = None
    session_id: str | None = None
    started_at: str | None = None
    ended_at: str | None = None
    duration: str | None = None


FIELDS: tuple[str, ...] = KeyData.__struct_fields__

_SITE = re.compile(r"/sites/([^/]+)/")
_USER = re.compile(r"/users/([^/?#]+)$")
#: the path segments of Learn's caliper-mapping IRIs that carry primary keys
_SEGMENTS = re.compile(r"/(gradableItems|assessments|questions|attempts)/([^/?#\n]+)")


def _id(value: Any) -> str | None:
    """The id of a slot value: an entity view's ``id`` or a thinned entity's IRI."""
    if value is None:
        return None
    if isinstance(value, str):
        return value or None
    found = value.id
    return found if isinstance(found, str) and found else None


def _ent(value: Any) -> Any:
    """The entity view of a slot value, or None for IRIs and nulls."""
    return None if value is None or isinstance(value, str) else value


def _str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value or None
    return str(value)


def _num(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _search(pattern: re.Pattern[str], ids: list[str | None]) -> str | None:
    for candidate in ids:
        if candidate:
            m = pattern.search(candidate)
            if m:
                return m.group(1)
    return None


def _segments(ids: list[str | None]) -> dict[str, str]:
    """The first ``/{kind}/{pk}`` of each kind across `ids`, in priority order (one regex pass)."""
    found: dict[str, str] = {}
    for kind, value in _SEGMENTS.findall("\n".join([i for i in ids if i])):
        if kind not in found:
            found[kind] = value
    return found


def _is_person(value: Any) -> bool:
    if isinstance(value, str):
        return "/users/" in value
    return value is not None and isinstance(value.type, str) and term(value.type) == "Person"


def _subject(v: EventView) -> Any:
    """The user an event is about (see the module docstring)."""
    if _is_person(v.actor):
        return v.actor
    obj, gen, membership = _ent(v.object), _ent(v.generated), _ent(v.membership)
    candidates: list[Any] = []
    if obj is not None:
        candidates += [obj.assignee, obj.actor, obj.user]
    if gen is not None:
        candidates.append(gen.assignee)
        attempt = _ent(gen.attempt)
        if attempt is not None:
            candidates += [attempt.assignee, attempt.actor]
    if membership is not None:
        candidates.append(membership.member)
    for c in candidates:
        if c is not None and _is_person(c):
            return c
    return v.actor


def _course(v: EventView) -> tuple[str | None, str | None]:
    group, membership, obj = _ent(v.group), _ent(v.membership), _ent(v.object)
    orgs: list[Org | None] = [group]
    if group is not None:
        orgs.append(_ent(group.sub_organization_of))
    if membership is not None:
        orgs.append(_ent(membership.organization))
    if obj is not None:
        orgs.append(_ent(obj.course))
    number = pk = None
    for org in orgs:
        if org is None:
            continue
        number = number or _str(org.course_number)
        if pk is None and org.extensions is not None:
            pk = _str(org.extensions.course_id)
    if membership is not None and membership.extensions is not None:
        number = number or _str(membership.extensions.course_external_id)
        pk = pk or _str(membership.extensions.course_id)
    return number, pk


def extract(event: Event) -> KeyData:
    """Build the key-data record of a decoded event."""
    v = event.view
    obj, gen, membership = _ent(v.object), _ent(v.generated), _ent(v.membership)
    env = event.envelope
    actor_id = _id(v.actor)
    object_id = _id(v.object)
    generated_id = _id(v.generated)
    subject = _subject(v)
    subject_id = _id(subject)
    subject_ext = None if isinstance(subject, str) or subject is None else subject.extensions
    member_ext = membership.extensions if membership is not None else None

    ids: list[str | None] = [object_id, generated_id]
    for node in (obj, gen):
        if node is not None:
            assignable = _ent(node.assignable)
            ids += [_id(node.assignable), _id(node.attempt), _id(node.is_part_of)]
            if assignable is not None:
                ids.append(_id(assignable.is_part_of))
    ids.append(_id(v.target))
    pks = _segments(ids)
    gradable = pks.get("gradableItems")
    if gradable is None and obj is not None:
        for node in (obj, _ent(obj.is_part_of)):
            if gradable is None and node is not None and node.extensions is not None:
                gradable = _str(node.extensions.gradeable_item_id)

    number, course_pk = _course(v)
    roles = None
    if membership is not None and isinstance(membership.roles, list):
        roles = ",".join(term(r) for r in membership.roles if isinstance(r, str)) or None

    score = max_score = None
    started = ended = duration = None
    grade_action = question_type = None
    if gen is not None:
        for value in (gen.score_given, gen.normal_score, gen.result_score, gen.total_score):
            score = _num(value)
            if score is not None:
                break
        max_score = _num(gen.max_score) or _num(gen.max_result_score)
        started, ended, duration = gen.started_at_time, gen.ended_at_time, gen.duration
        if gen.extensions is not None:
            grade_action = _str(gen.extensions.action_name)
            question_type = _str(gen.extensions.question_type)
    if obj is not None:
        if not max_score:
            for node in (_ent(obj.assignable), obj, _ent(gen.assignable) if gen is not None else None):
                if node is not None and _num(node.max_score):
                    max_score = _num(node.max_score)
                    break
        started = started or obj.started_at_time
        ended = ended or obj.ended_at_time
        duration = duration or obj.duration
        if question_type is None and obj.extensions is not None:
            question_type = _str(obj.extensions.question_type)

    session = _id(v.federated_session) or _id(v.session)
    if session is not None and session.endswith("/sessions/"):
        session = None

    return KeyData(
        event_key=event.key,
        event_id=event.id,
        version=event.version,
        type=event.type or None,
        action=event.action or None,
        event_time=event.event_time,
        send_time=_str(env.send_time) if env is not None else None,
        sensor=_str(env.sensor) if env is not None else None,
        site=_search(_SITE, [actor_id, object_id, _id(v.ed_app), subject_id]),
        actor_id=actor_id,
        user_uuid=_search(_USER, [subject_id]),
        user_pk=(subject_ext and _str(subject_ext.user_id)) or (member_ext and _str(member_ext.user_id)) or None,
        user_external_id=(subject_ext and _str(subject_ext.user_external_id))
        or (member_ext and _str(member_ext.user_external_id))
        or None,
        course_number=number,
        course_pk=course_pk,
        roles=roles,
        object_id=object_id,
        object_type=term(obj.type) if obj is not None and isinstance(obj.type, str) else None,
        gradable_item_pk=gradable,
        assessment_pk=pks.get("assessments"),
        question_pk=pks.get("questions"),
        attempt_pk=pks.get("attempts"),
        score=score,
        max_score=max_score,
        grade_action=grade_action,
        question_type=question_type,
        session_id=session,
        started_at=_str(started),
        ended_at=_str(ended),
        duration=_str(duration),
    )
