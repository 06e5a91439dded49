"""From raw input to storable rows: the one place that decides event or dead letter.

`prepare` runs read output through `decode` (and strict validation when asked) and splits it
into `Row`s for the events table and `DeadLetter`s for everything else, so that every byte of
the input ends up in exactly one of the two. The endpoint, ``import`` and dead-letter replay all
call it; the store only ever sees rows that are already keyed.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Protocol

import msgspec

from caliper_stream.event import Event, decode
from caliper_stream.keydata import KeyData
from caliper_stream.problems import Problem
from caliper_stream.read import RawEvent


class Protection(Protocol):
    """A store's pseudonymisation (`caliper_stream.privacy`): applied to every raw event before
    it is decoded, and to bytes kept whole as dead letters."""

    def protect(self, item: RawEvent | Event) -> RawEvent: ...

    def scrub(self, data: bytes) -> bytes: ...


class Row(msgspec.Struct):
    """One accepted event, ready for the store."""

    event_key: str
    raw: bytes
    keydata: KeyData
    source: str | None
    received_at: str


class DeadLetter(msgspec.Struct):
    """Input that is not a storable event, kept whole with the reasons why."""

    raw: bytes
    reasons: list[Problem]
    source: str | None
    received_at: str


class Batch(msgspec.Struct):
    """The rows and dead letters of one request or one chunk of an import."""

    rows: list[Row] = msgspec.field(default_factory=list)
    dead_letters: list[DeadLetter] = msgspec.field(default_factory=list)
    #: how many events the reader had to repair (control characters, U+00A0) to decode
    repaired: int = 0
    #: what was tolerated in accepted events (repairs, values left out of key data)
    warnings: list[Problem] = msgspec.field(default_factory=list)

    def __len__(self) -> int:
        return len(self.rows) + len(self.dead_letters)


def now() -> str:
    """The current time as Caliper writes it (UTC, milliseconds)."""
    t = datetime.now(UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def classify(event: Event, strict: bool = False) -> list[Problem]:
    """The errors that keep `event` out of the events table (empty when it is accepted)."""
    if event.rejection is not None:
        return [event.rejection]
    if strict:
        from caliper_stream.validate import validate

        return [p for p in validate(event, strict=True) if p.severity == "error"]
    return []


def prepare(
    items: Iterable[RawEvent | Event],
    *,
    source: str | None,
    received_at: str | None = None,
    strict: bool = False,
    privacy: Protection | None = None,
) -> Batch:
    """Decode `items` and split them into rows and dead letters (pseudonymised first when the
    store is pseudonymous: nothing personal reaches a row or a dead letter)."""
    received_at = received_at or now()
    batch = Batch()
    for item in items:
        if privacy is not None:
            item = privacy.protect(item)
        event = item if isinstance(item, Event) else decode(item)
        if event.text is not None:
            batch.repaired += 1
        errors = classify(event, strict)
        if errors:
            batch.dead_letters.append(DeadLetter(event.raw, errors, source, received_at))
        else:
            batch.rows.append(Row(event.key, event.raw, event.keydata(), source, received_at))
            if event.noted:
                batch.warnings += event.noted
    return batch
