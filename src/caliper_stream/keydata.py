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

import math
import re
from typing import TYPE_CHECKING, Any

# re-exported: defined apart so that msgspec reads their annotations (see compiled.py)
from caliper_stream.model.records import IdParts as IdParts
from caliper_stream.model.records import KeyData as KeyData
from caliper_stream.model.views import EventView, Node, Org
from caliper_stream.problems import join, warning
from caliper_stream.vocab import RENAMED_TYPES, TERMS, term

if TYPE_CHECKING:
    from caliper_stream.event import Event
    from caliper_stream.read import Envelope


FIELDS: tuple[str, ...] = KeyData.__struct_fields__
_NO_SCORES = (None, None, None, None)
_NO_PKS: dict[str, str] = {}  # never changed: `_segments` returns it when nothing is found

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
    """A finite float, or None: an integer beyond float range (401 digits) or a string such as
    ``"1e400"`` or ``"NaN"`` is no usable score (`extract` says so in a warning)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float):
        return value  # msgspec refuses JSON numbers beyond float range, so this one is finite
    if isinstance(value, int | str):
        try:
            found = float(value)
        except (ValueError, OverflowError):
            return None
        return found if math.isfinite(found) else None
    return None


def _unusable(values: tuple[Any, ...]) -> Any:
    """The first number among `values` that `_num` cannot use (None when there is none)."""
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int | str):
            continue
        try:
            found = float(value)
        except OverflowError:
            return value
        except ValueError:
            continue
        if not math.isfinite(found):
            return value
    return None


#: `id_parts` of recent ids: the same actors, courses and content ids repeat in every payload,
#: and a dict lookup costs a tenth of the three searches. Bounded (emptied when full) and only
#: for ids of ordinary length, so that hostile input cannot make it grow.
_PARTS: dict[str, IdParts] = {}
_PARTS_MAX = 16_384  # a few MB at most
_PARTS_ID_MAX = 512


def id_parts(value: str) -> IdParts:
    """The site, user uuid and primary-key segments of one id (memoised)."""
    found = _PARTS.get(value)
    if found is None:
        found = IdParts(_site(value), _user(value), tuple(_SEGMENTS.findall(value)))
        if len(value) <= _PARTS_ID_MAX:
            if len(_PARTS) >= _PARTS_MAX:
                _PARTS.clear()
            _PARTS[value] = found
    return found


def clear_memos() -> None:
    """Empty what the read path memoises (id parts, terms, the last envelope's values): none of
    it changes any output, and a test or a long-lived process may want them cold."""
    global _last_envelope
    _PARTS.clear()
    TERMS.clear()
    _last_envelope = (None, (None, None))


def _segments(ids: list[str | None]) -> dict[str, str]:
    """The first ``/{kind}/{pk}`` of each kind across `ids`, in priority order.

    A segment never spans ids (``[^/?#\n]``), so the segments of the ids one after another are
    exactly what one search over the ids joined by newlines finds."""
    pks: dict[str, str] | None = None
    for value in ids:
        if value:
            found = id_parts(value).segments
            if found:
                if pks is None:
                    pks = {}
                for kind, pk in found:
                    if kind not in pks:
                        pks[kind] = pk
    return _NO_PKS if pks is None else pks


def _site(value: str) -> str | None:
    """The first ``/sites/{segment}/`` of an id (what ``/sites/([^/]+)/`` finds, without a regex)."""
    at = value.find("/sites/")
    while at >= 0:
        end = value.find("/", at + 7)
        if end < 0:
            return None
        if end > at + 7:
            return value[at + 7 : end]
        at = value.find("/sites/", at + 1)
    return None


def _user(value: str) -> str | None:
    """The ``/users/{uuid}`` tail of an id (what ``/users/([^/?#]+)$`` finds, without a regex)."""
    at = value.rfind("/users/")
    if at < 0:
        return None
    tail = value[at + 7 :]
    if not tail or "/" in tail or "?" in tail or "#" in tail:
        return None
    return tail


def _is_person(value: Any) -> bool:
    if isinstance(value, str):
        return "/users/" in value
    return value is not None and isinstance(value.type, str) and (TERMS.get(value.type) or term(value.type)) == "Person"


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


def extract(event: Event) -> KeyData:
    """Build the key-data record of a decoded event.

    This runs once per ingested event, and at this size every bytecode shows: slot ids and
    strings are read inline (``isinstance(x, str)`` first, the helpers only for odd values),
    ids are searched with `str` methods rather than regexes, the course search and the
    fallbacks are written out rather than looped over, what only depends on the envelope is
    worked out once per envelope (`_envelope_values`), and `KeyData` is built positionally
    (keywords cost four times as much for 30 fields).
    """
    v = event.view
    actor, obj, gen, membership, group = v.actor, v.object, v.generated, v.membership, v.group
    # the subject: the actor when it is a Person (the common case), else `_subject`'s search
    if isinstance(actor, str):
        actor_id = actor or None
        person = "/users/" in actor
    elif actor is None:
        actor_id, person = None, False
    else:
        found = actor.id  # any JSON value: checked before it is kept (compiled code checks types)
        actor_id = found if isinstance(found, str) and found else None
        kind = actor.type
        person = isinstance(kind, str) and (TERMS.get(kind) or term(kind)) == "Person"
    if isinstance(obj, str):
        object_id, obj = obj or None, None
    else:
        object_id = _id(obj)
    if gen is None or isinstance(gen, str):
        generated_id, gen = gen or None, None
    else:
        generated_id = _id(gen)
    if membership is not None and isinstance(membership, str):
        membership = None

    if person:
        subject: Any = actor
        subject_id = actor_id
    else:
        subject = _subject(v)
        subject_id = _id(subject)
    user_pk = user_external_id = None
    if subject is not None and not isinstance(subject, str) and (ext := subject.extensions) is not None:
        user_pk, user_external_id = _str(ext.user_id), _str(ext.user_external_id)
    member_ext = membership.extensions if membership is not None else None
    if member_ext is not None:
        user_pk = user_pk or _str(member_ext.user_id)
        user_external_id = user_external_id or _str(member_ext.user_external_id)

    # primary keys (`_segments`) in the ids of object, generated, their assignable, attempt and
    # isPartOf, and target, in that order
    ids = [object_id, generated_id]
    if obj is not None and (obj.assignable is not None or obj.attempt is not None or obj.is_part_of is not None):
        _node_ids(obj, ids)
    if gen is not None and (gen.assignable is not None or gen.attempt is not None or gen.is_part_of is not None):
        _node_ids(gen, ids)
    target = v.target
    if target is not None:
        ids.append((target or None) if isinstance(target, str) else _id(target))
    pks = _segments(ids)
    gradable = pks.get("gradableItems")
    if gradable is None and obj is not None:
        if obj.extensions is not None:
            gradable = _str(obj.extensions.gradeable_item_id)
        part_of = obj.is_part_of
        if gradable is None and part_of is not None and not isinstance(part_of, str) and part_of.extensions is not None:
            gradable = _str(part_of.extensions.gradeable_item_id)

    # course: the first courseNumber and bb:course.id of group, its subOrganizationOf, the
    # membership's organization and the object's course, then the membership's extensions
    number = course_pk = None
    if group is not None and not isinstance(group, str):
        number = _str(group.course_number)
        if group.extensions is not None:
            course_pk = _str(group.extensions.course_id)
        org = group.sub_organization_of
        if org is not None and not isinstance(org, str):
            number, course_pk = _org(org, number, course_pk)
    roles = None
    if membership is not None:
        org = membership.organization
        if org is not None and not isinstance(org, str) and (number is None or course_pk is None):
            number, course_pk = _org(org, number, course_pk)
    if obj is not None and (number is None or course_pk is None):
        org = obj.course
        if org is not None and not isinstance(org, str):
            number, course_pk = _org(org, number, course_pk)
    if membership is not None:
        if member_ext is not None:
            number = number or _str(member_ext.course_external_id)
            course_pk = course_pk or _str(member_ext.course_id)
        found = membership.roles
        if isinstance(found, list):
            if len(found) == 1 and isinstance(found[0], str):  # Learn sends one role
                roles = TERMS.get(found[0]) or term(found[0]) or None
            elif found:
                roles = ",".join([TERMS.get(r) or term(r) for r in found if isinstance(r, str)]) or None

    score = max_score = started = ended = duration = grade_action = question_type = None
    if gen is not None:
        scores = (gen.score_given, gen.normal_score, gen.result_score, gen.total_score)
        if scores != _NO_SCORES:
            for value in scores:
                if value is not None:
                    score = _num(value)
                    if score is not None:
                        break
        given = gen.max_score
        if given is not None or gen.max_result_score is not None:
            max_score = _num(given) or _num(gen.max_result_score)
        if (score is None and scores != _NO_SCORES) or (max_score is None and given is not None and given != 0):
            bad = _unusable((*scores, gen.max_score, gen.max_result_score))
            if bad is not None:
                shown = "an integer of more than 308 digits" if isinstance(bad, int) else repr(bad[:40])
                event._warnings.append(
                    warning(join(event.path, "generated"), f"score not usable as a number ({shown}): left out of key data", event.index)
                )
        started, ended, duration = gen.started_at_time, gen.ended_at_time, gen.duration
        ext = gen.extensions
        if ext is not None:
            grade_action = _str(ext.action_name)
            question_type = _str(ext.question_type)
    object_type = None
    if obj is not None:
        if not max_score and (
            obj.max_score is not None or obj.assignable is not None or (gen is not None and gen.assignable is not None)
        ):
            max_score = _fallback_max_score(obj, gen) or max_score
        started = started or obj.started_at_time
        ended = ended or obj.ended_at_time
        duration = duration or obj.duration
        if question_type is None and obj.extensions is not None:
            question_type = _str(obj.extensions.question_type)
        kind = obj.type
        if isinstance(kind, str):
            object_type = TERMS.get(kind) or term(kind)

    session = v.federated_session
    if session is not None:
        session = (session or None) if isinstance(session, str) else _id(session)
    if session is None and (found := v.session) is not None:
        session = (found or None) if isinstance(found, str) else _id(found)
    if session is not None and session.endswith("/sessions/"):
        session = None

    # site: the first of actor, object, edApp and subject ids naming one
    parts = id_parts(actor_id) if actor_id else None
    site = parts.site if parts is not None else None
    if site is None:
        for candidate in (object_id, _id(v.ed_app), subject_id):
            if candidate and (site := id_parts(candidate).site) is not None:
                break
    if subject_id is None:
        user_uuid = None
    elif subject_id is actor_id and parts is not None:
        user_uuid = parts.user
    else:
        user_uuid = id_parts(subject_id).user
    send_time, sensor = _envelope_values(event.envelope)
    sent_type = event.type or None
    canonical = RENAMED_TYPES.get(sent_type, sent_type) if sent_type else None
    # positional, in the order of KeyData's fields
    return KeyData(
        event.key,
        event.id,
        event.version,
        canonical,
        event.action or None,
        event.event_time,
        send_time,
        sensor,
        site,
        actor_id,
        user_uuid,
        user_pk,
        user_external_id,
        number,
        course_pk,
        roles,
        object_id,
        object_type,
        gradable,
        pks.get("assessments"),
        pks.get("questions"),
        pks.get("attempts"),
        score,
        max_score,
        grade_action,
        question_type,
        session,
        None if started is None else _str(started),
        None if ended is None else _str(ended),
        None if duration is None else _str(duration),
        sent_type if canonical != sent_type else None,
    )


def _node_ids(node: Node, ids: list[str | None]) -> None:
    """Append the ids of a node's assignable, attempt and isPartOf (and the assignable's
    isPartOf) to `ids`, in that order."""
    assignable = node.assignable
    ids += [_id(assignable), _id(node.attempt), _id(node.is_part_of)]
    if assignable is not None and not isinstance(assignable, str):
        ids.append(_id(assignable.is_part_of))


def _fallback_max_score(obj: Node, gen: Node | None) -> float | None:
    """The first positive maxScore of the object's assignable, the object, the generated
    entity's assignable (Learn sends Score.maxScore 0)."""
    for scored in (obj.assignable, obj, gen.assignable if gen is not None else None):
        if scored is not None and not isinstance(scored, str) and scored.max_score is not None:
            found = _num(scored.max_score)
            if found:
                return found
    return None


#: the last envelope seen and its key-data values, as one pair (one store, so that threads
#: never see an envelope with another's values): the events of one envelope come one after
#: another, so the sensor and sendTime are worked out once per envelope, not once per event
_last_envelope: tuple[Any, tuple[str | None, str | None]] = (None, (None, None))


def _envelope_values(env: Envelope | None) -> tuple[str | None, str | None]:
    """``send_time`` and ``sensor`` of an envelope (the last envelope's are kept)."""
    global _last_envelope
    if env is None:
        return None, None
    last = _last_envelope
    if last[0] is env:
        return last[1]
    values = (_str(env.send_time), _str(env.sensor))
    _last_envelope = (env, values)
    return values


def _org(org: Org, number: str | None, pk: str | None) -> tuple[str | None, str | None]:
    """One organisation's turn in the course search: fill in what is still missing."""
    if number is None:
        number = _str(org.course_number)
    if pk is None and org.extensions is not None:
        pk = _str(org.extensions.course_id)
    return number, pk
