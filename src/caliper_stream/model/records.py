"""The records key data produces: `KeyData` (one per event) and `IdParts` (one per id read).

They live apart from ``keydata.py`` because that module is compiled (caliper_stream/compiled.py)
and msgspec must see these classes' annotations as Python writes them.
"""

from __future__ import annotations

import msgspec


class KeyData(msgspec.Struct, omit_defaults=False, gc=False):
    """The flat key-data record; field names are the documented column names.

    ``gc=False``: it holds only strings, floats and None, so it can never be part of a cycle,
    and not tracking one record per ingested event keeps the cyclic collector off them."""

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
    #: the type as sent when `type` is its canonical successor (1.0's OutcomeEvent → GradeEvent)
    original_type: str | None = None


class IdParts(msgspec.Struct, frozen=True, gc=False):
    """What key data reads from one id: its site, its user uuid, its ``/{kind}/{pk}`` segments."""

    site: str | None
    user: str | None
    segments: tuple[tuple[str, str], ...]
