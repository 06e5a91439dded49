"""Typed views of a Caliper event: only what identity and key data need, decoded by msgspec.

A view is decoded directly from an event's raw bytes. Properties a view does not name are
skipped by the C decoder without building Python objects, and each slot has a view that names
only what the event key and key data read there (a ``type`` only where it is read: the object's
and the people's), which is what makes the ingest path fast (see
``benchmarks/read_bench.py``). The full event is never lost: the raw bytes are kept and
`caliper_stream.normalize` builds the complete canonical document on demand.

Entity slots accept an object, a bare IRI string ("thinned" entities) or null. Caliper 1.0
``@id``/``@type`` are mapped to ``id``/``type`` before decoding (see `caliper_stream.event`).

Views are ``gc=False``: what JSON decodes to cannot hold a reference cycle, and not tracking the
~20 Structs an event decodes into saves about a fifth of the decode time and keeps the cyclic
garbage collector from running over them during a large import.
"""

from __future__ import annotations

from typing import Any

import msgspec


class Ext(msgspec.Struct, gc=False):
    """The Blackboard extensions key data reads (``bb:`` keys contain dots)."""

    user_id: Any = msgspec.field(default=None, name="bb:user.id")
    user_external_id: Any = msgspec.field(default=None, name="bb:user.externalId")
    course_id: Any = msgspec.field(default=None, name="bb:course.id")
    course_external_id: Any = msgspec.field(default=None, name="bb:course.externalId")
    action_name: Any = msgspec.field(default=None, name="bb:action.name")
    question_type: Any = msgspec.field(default=None, name="bb:questionType")
    gradeable_item_id: Any = msgspec.field(default=None, name="bb:assessment.gradeableItemId")


Extensions = Ext | None


class Ref(msgspec.Struct, gc=False):
    """An entity of which only the identity matters (edApp, target, sessions, referrer)."""

    id: Any = None


class Agent(msgspec.Struct, gc=False):
    """A Person or SoftwareApplication, with Learn's user extensions."""

    id: Any = None
    type: Any = None
    extensions: Extensions = None


class Org(msgspec.Struct, rename="camel", gc=False):
    """A CourseOffering, CourseSection or Group (its ``id`` is neither identity nor key data,
    so it is skipped)."""

    extensions: Extensions = None
    course_number: Any = None
    sub_organization_of: Org | str | None = None


class Membership(msgspec.Struct, gc=False):
    """The actor's membership in the course: key data reads its organization, member and roles."""

    extensions: Extensions = None
    organization: Org | str | None = None
    member: Agent | str | None = None
    roles: Any = None


class Node(msgspec.Struct, rename="camel", gc=False):
    """The object or generated entity: attempts, scores, results, assessments, sessions."""

    id: Any = None
    type: Any = None
    extensions: Extensions = None
    is_part_of: Node | str | None = None
    assignable: Node | str | None = None
    assignee: Agent | str | None = None
    actor: Agent | str | None = None
    user: Agent | str | None = None
    attempt: Node | str | None = None
    course: Org | str | None = None
    max_score: Any = None
    score_given: Any = None
    normal_score: Any = None
    total_score: Any = None
    result_score: Any = None
    max_result_score: Any = None
    started_at_time: Any = None
    ended_at_time: Any = None
    duration: Any = None


class EventView(msgspec.Struct, rename="camel", gc=False):
    """The top level of an event."""

    type: Any = None
    action: Any = None
    id: Any = None
    context: Any = msgspec.field(default=None, name="@context")
    actor: Agent | str | None = None
    object: Node | str | None = None
    target: Ref | str | None = None
    generated: Node | str | None = None
    ed_app: Ref | str | None = None
    group: Org | str | None = None
    membership: Membership | str | None = None
    session: Ref | str | None = None
    federated_session: Ref | str | None = None
    event_time: Any = None
    profile: Any = None


#: The slots of an event and the view each is decoded with.
SLOT_VIEWS: dict[str, type[msgspec.Struct]] = {
    "actor": Agent,
    "object": Node,
    "target": Ref,
    "generated": Node,
    "edApp": Ref,
    "group": Org,
    "membership": Membership,
    "session": Ref,
    "federatedSession": Ref,
}

view_decoder = msgspec.json.Decoder(EventView)
