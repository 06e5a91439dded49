"""What every Learn event is made of: the plain inputs, the shared entities, ids and times.

Entities that repeat in every event (a user's Person, a course's CourseOffering, a Membership,
``edApp``) are built once per `Learn` context and *shared* between events: they are never
mutated, only serialised, so a term of a million events does not deep-copy them a million
times. Never mutate a built event in place; build a new one.

`Learn.to_v1p0` turns a 1.1-shaped event into Caliper 1.0 the way Learn 1.0 wrote it (see the
seed outcome page): ``@context``/``@id``/``@type`` with IRIs, every entity carrying ``name``,
``description``, ``extensions``, ``dateCreated``, ``dateModified`` (null when unknown),
references thinned to bare IRIs, absent slots written as ``null``, no event id, and the
1.0 spelling ``synVersion`` of a CalculatedGrade's ``syncVersion``. Actions are the standard
1.0 action IRIs throughout: Learn 1.0's own LTI (``…#LTILaunch``) and grade-calculation action
IRIs are not published in full, so they are not imitated.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec

Delivery = Literal["immediate", "nightly"]
Json = dict[str, Any]
Time = str | datetime

BASE = "https://caliper-mapping.cloudbb.blackboard.com/v1/sites/"
CTX_1P1 = "http://purl.imsglobal.org/ctx/caliper/v1p1"
CTX_1P0 = "http://purl.imsglobal.org/ctx/caliper/v1/Context"
BB_CTX = "http://caliper.blackboard.com/ctx/caliper/v1/Context"
BB = "http://caliper.blackboard.com/caliper/v1/"
IMS = "http://purl.imsglobal.org/caliper/v1/"
ACTION_1P0 = "http://purl.imsglobal.org/vocab/caliper/v1/action#"
ROLE_1P0 = "http://purl.imsglobal.org/vocab/lis/v2/membership#"
STATUS_1P0 = "http://purl.imsglobal.org/vocab/lis/v2/status#"


class User(msgspec.Struct, frozen=True):
    """A Learn user: the 32-hex uuid of the IRIs, the pk1 (``_12_1``) and the batch_uid."""

    uuid: str
    pk: str
    external_id: str


class Course(msgspec.Struct, frozen=True):
    """A Learn course: 32-hex uuid, pk1 and the batch_uid Learn sends as ``courseNumber``."""

    uuid: str
    pk: str
    number: str
    name: str = ""


class CourseGroup(msgspec.Struct, frozen=True):
    """A course group (group assignments, group forums)."""

    pk: str
    name: str
    course: Course
    members: tuple[User, ...] = ()


class GradableItem(msgspec.Struct, frozen=True):
    """A gradebook column with its content: an assignment or a test (``assessment_pk`` set)."""

    pk: str
    name: str
    max_score: float
    due: str | None = None
    content_pk: str = ""
    assessment_pk: str | None = None
    category_pk: str = "_1_1"
    category: str = "Assignment"
    max_attempts: int = 0


class Question(msgspec.Struct, frozen=True):
    """One question of a test; ``question_type`` is Learn's name (MultipleAnswer, Essay, …)."""

    pk: str
    question_type: str = "MultipleChoice"


class Session(msgspec.Struct, frozen=True):
    """A Learn session: 32 upper-case hex digits (empty for Learn's sessionless events)."""

    hex: str


class Built(msgspec.Struct, frozen=True):
    """One built event and how Learn delivers it (immediately, or held for the nightly run)."""

    event: Json
    delivery: Delivery = "immediate"

    @property
    def nightly(self) -> bool:
        return self.delivery == "nightly"


encode = msgspec.json.Encoder().encode


def ts(value: Time) -> str:
    """Caliper's UTC millisecond form for a datetime; strings are passed through."""
    if isinstance(value, str):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


_MINUTES: dict[int, str] = {}


def ms_time(epoch_ms: int) -> str:
    """Caliper's UTC millisecond form for epoch milliseconds (the simulator's hot path: the
    ``YYYY-MM-DDTHH:MM:`` prefix is formatted once per minute)."""
    minute, rest = divmod(epoch_ms, 60_000)
    prefix = _MINUTES.get(minute)
    if prefix is None:
        if len(_MINUTES) > 200_000:
            _MINUTES.clear()
        t = time.gmtime(minute * 60)
        prefix = _MINUTES[minute] = f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T{t.tm_hour:02d}:{t.tm_min:02d}:"
    seconds, ms = divmod(rest, 1000)
    return f"{prefix}{seconds:02d}.{ms:03d}Z"


class Learn:
    """The context events are built in: the site, the version, how ids are made, shared entities.

    ``new_id`` makes the bare UUID of a 1.1 event (uuid4 by default; the simulator passes an
    rng-derived one); ``urn_ids`` writes ``urn:uuid:…`` as the spec wants instead of Learn's
    bare UUID. ``version`` is ``"1.1"`` (Learn today) or ``"1.0"`` (Learn before 2019).
    """

    def __init__(
        self,
        site: str,
        *,
        version: str = "1.1",
        urn_ids: bool = False,
        new_id: Callable[[], str] | None = None,
    ) -> None:
        if version not in ("1.0", "1.1"):
            raise ValueError(f"unsupported Caliper version {version!r} (1.0 or 1.1)")
        self.site = site
        self.version = version
        self.urn_ids = urn_ids
        self.new_id = new_id or (lambda: str(uuid.uuid4()))
        self.base = BASE + site + "/"
        self.app_id = self.base + "applications/learn"
        self.app: Json = {"id": self.app_id, "type": "SoftwareApplication"}
        self._people: dict[str, Json] = {}
        self._courses: dict[str, Json] = {}
        self._members: dict[tuple[str, str, str], Json] = {}
        self._groups: dict[str, Json] = {}

    # -- ids ---------------------------------------------------------------------------------

    def event_id(self) -> str:
        value = self.new_id()
        return "urn:uuid:" + value if self.urn_ids else value

    def iri(self, path: str) -> str:
        return self.base + path

    # -- shared entities ---------------------------------------------------------------------

    def person(self, user: User) -> Json:
        found = self._people.get(user.uuid)
        if found is None:
            found = self._people[user.uuid] = {
                "id": self.base + "users/" + user.uuid,
                "type": "Person",
                "extensions": {"bb:user.id": user.pk, "bb:user.externalId": user.external_id},
            }
        return found

    def course(self, course: Course) -> Json:
        found = self._courses.get(course.uuid)
        if found is None:
            found = self._courses[course.uuid] = {
                "id": self.base + "courses/" + course.uuid,
                "type": "CourseOffering",
                "extensions": {"bb:course.id": course.pk},
                "members": [],
                "courseNumber": course.number,
            }
        return found

    def membership(self, user: User, course: Course, role: str | None) -> Json:
        key = (user.uuid, course.uuid, role or "")
        found = self._members.get(key)
        if found is None:
            found = self._members[key] = {
                "id": f"{self.base}courses/{course.uuid}/members/{user.uuid}",
                "type": "Membership",
                "extensions": {
                    "bb:course.id": course.pk,
                    "bb:course.externalId": course.number,
                    "bb:user.id": user.pk,
                    "bb:user.externalId": user.external_id,
                },
                "member": self.person(user),
                "organization": self.course(course),
                "roles": [role] if role else [],
                "status": "Active",
            }
        return found

    def group(self, group: CourseGroup) -> Json:
        found = self._groups.get(group.pk + group.course.uuid)
        if found is None:
            found = self._groups[group.pk + group.course.uuid] = {
                "id": f"{self.base}courses/{group.course.uuid}/groups/{group.pk}",
                "type": "Group",
                "extensions": {"bb:group.name": group.name},
                "subOrganizationOf": self.course(group.course),
                "members": [],
            }
        return found

    def federated(self, session: Session, user: User, at: str, extensions: Json | None = None) -> Json:
        """Learn's federatedSession: an LtiSession whose start and creation equal the eventTime."""
        out: Json = {
            "startedAtTime": at,
            "id": self.base + "sessions/" + session.hex,
            "type": "LtiSession",
            "name": session.hex,
            "dateCreated": at,
        }
        if extensions is not None:
            out["extensions"] = extensions
        out["user"] = self.person(user)
        return out

    def session_ref(self, session: Session) -> Json:
        return {"id": self.base + "sessions/" + session.hex, "type": "Session"}

    # -- finishing ---------------------------------------------------------------------------

    def finish(self, event: Json, delivery: Delivery = "immediate") -> Built:
        """Wrap a 1.1-shaped event, converting it when this context builds Caliper 1.0."""
        if self.version == "1.0":
            event = to_v1p0(event)
        return Built(event, delivery)


# ---------------------------------------------------------------------------------------------
# Caliper 1.0


_LIS = {"Person", "CourseOffering", "CourseSection", "Membership", "Group"}
_TYPE_1P0 = {"Chapter": IMS + "Frame", "LtiSession": IMS + "Session"}
#: References Learn 1.0 wrote as bare IRIs instead of nested objects.
_THIN = {"member", "organization", "assignable", "actor", "assignee", "isPartOf", "user"}
#: Empty arrays that 1.1 added and 1.0 did not send.
_DROP = {"creators", "learningObjectives", "keywords", "members", "items", "@context"}
_HEAD = ("name", "description", "extensions", "dateCreated", "dateModified")
#: Learn 1.0 wrote ``@id`` before ``@context`` for these (its outcome sample, key for key).
_ID_FIRST = frozenset({"Person", "CourseOffering"})
_RENAME_1P0 = {"assignee": "actor", "syncVersion": "synVersion"}
_SLOTS_1P0 = ("target", "generated", "group", "membership", "federatedSession")


def type_iri(value: str) -> str:
    """The Caliper 1.0 IRI of a 1.1 type term (Blackboard's own types are IRIs already)."""
    if value.startswith("http"):
        return value
    if value in _TYPE_1P0:
        return _TYPE_1P0[value]
    return IMS + ("lis/" if value in _LIS else "") + value


def _ref(value: Any) -> Any:
    return value.get("id") if isinstance(value, dict) else value


def _entity(node: Json) -> Json:
    kind = node.get("type", "")
    if kind in _ID_FIRST:
        out: Json = {"@id": node.get("id"), "@context": CTX_1P0, "@type": type_iri(kind)}
    else:
        out = {"@context": CTX_1P0, "@id": node.get("id"), "@type": type_iri(kind)}
    for key in _HEAD:
        out[key] = node.get(key, {} if key == "extensions" else None)
    for key, value in node.items():
        if key in _HEAD or key in _DROP or key in ("id", "type"):
            continue
        key = _RENAME_1P0.get(key, key)
        if key in _THIN and kind != "Session":  # a timed-out Session keeps its user whole
            out[key] = _ref(value)
        elif key == "roles":
            out[key] = [ROLE_1P0 + r for r in value]
        elif key == "status":
            out[key] = STATUS_1P0 + value
        else:
            out[key] = _value(value)
    if kind == "Attempt":
        out.setdefault("endedAtTime", None)
        out.setdefault("duration", None)
    if kind == "CourseOffering":
        out.setdefault("academicSession", None)
        out.setdefault("subOrganizationOf", None)
    return out


def _value(value: Any) -> Any:
    if isinstance(value, dict):
        return _entity(value) if "type" in value and "id" in value else value
    if isinstance(value, list):
        return [_value(v) for v in value]
    return value


def to_v1p0(event: Json) -> Json:
    """A 1.1-shaped Learn event written as Learn wrote Caliper 1.0 (see the module docstring)."""
    kind = event["type"]
    bb_event = kind.startswith(BB)
    out: Json = {
        "@context": [BB_CTX, CTX_1P0] if bb_event else CTX_1P0,
        "@type": type_iri(kind),
        "actor": _value(event["actor"]),
        "action": ACTION_1P0 + event["action"],
        "object": _value(event["object"]),
    }
    for slot in _SLOTS_1P0:
        value = event.get(slot)
        if slot == "federatedSession":
            sid = _ref(value)
            out[slot] = None if not sid or sid.endswith("/sessions/") else sid
        else:
            out[slot] = _value(value) if value is not None else None
    out["eventTime"] = event["eventTime"]
    out["edApp"] = _value(event["edApp"])
    ordered: Json = {k: out[k] for k in ("@context", "@type", "actor", "action", "object", "target", "generated", "eventTime", "edApp", "group", "membership", "federatedSession")}
    if event.get("extensions"):
        ordered["extensions"] = event["extensions"]
    return ordered


_BB_CONTEXT_1P1 = [BB_CTX, CTX_1P1]


def bb_entity(kind: str, iri: str, **fields: Any) -> Json:
    """A Blackboard-specific entity (Forum, Content, …): its own ``@context`` and IRI type."""
    out: Json = {"@context": _BB_CONTEXT_1P1, "type": BB + kind, "id": iri}
    out.update(fields)
    return out


def envelope_event(
    learn: Learn,
    kind: str,
    actor: Json,
    action: str,
    obj: Json,
    at: str,
    *,
    target: Json | None = None,
    generated: Json | None = None,
    ed_app: Json | None = None,
    group: Json | None = None,
    membership: Json | None = None,
    federated: Json | None = None,
    extensions: Json | None = None,
    session: Json | None = None,
) -> Json:
    """The top level of a Learn 1.1 event, in the order Learn writes its keys."""
    bb = kind in BB_KINDS
    out: Json = {
        "@context": _BB_CONTEXT_1P1 if bb else CTX_1P1,
        "type": BB + kind if bb else kind,
        "id": learn.event_id(),
        "actor": actor,
        "action": action,
        "object": obj,
    }
    if target is not None:
        out["target"] = target
    if generated is not None:
        out["generated"] = generated
    out["eventTime"] = at
    out["edApp"] = ed_app if ed_app is not None else learn.app
    if group is not None:
        out["group"] = group
    if membership is not None:
        out["membership"] = membership
    if federated is not None:
        out["federatedSession"] = federated
    out["extensions"] = extensions if extensions is not None else {}
    if session is not None:
        out["session"] = session
    return out


def user_event(
    learn: Learn,
    kind: str,
    user: User,
    course: Course,
    action: str,
    obj: Json,
    at: str,
    session: Session,
    *,
    role: str | None = "Learner",
    with_session: bool = False,
    **slots: Json | None,
) -> Built:
    """An event a user caused in a course: the person as actor, their membership, the
    LtiSession ``federatedSession`` and (``with_session``) the Session entity, as Learn adds them
    to every user-side event; ``slots`` are the other top-level entities of `envelope_event`."""
    event = envelope_event(
        learn,
        kind,
        learn.person(user),
        action,
        obj,
        at,
        membership=learn.membership(user, course, role),
        federated=learn.federated(session, user, at),
        session=learn.session_ref(session) if with_session else None,
        **slots,
    )
    return learn.finish(event)


#: Learn's own event types (written as full ``http://caliper.blackboard.com/…`` IRIs).
BB_KINDS = frozenset(
    {
        "LTIEvent",
        "ForumEvent",
        "ContentEvent",
        "CourseGroupEvent",
        "BlogEvent",
        "WikiEvent",
        "CalculatedGradeSnapshotEvent",
    }
)
