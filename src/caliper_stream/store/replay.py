"""Dead-letter replay: read the kept bytes again and move what is now an event into events.

A dead letter is replayed only whole: when every piece of its bytes now reads as an event,
those events are stored and the dead letter is marked replayed in one transaction. Otherwise
it stays pending with the reasons it still fails (nothing is stored).
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from caliper_stream.ingest import Protection, prepare
from caliper_stream.privacy import load_settings, protection_for
from caliper_stream.privacy.apply import stored_clear
from caliper_stream.problems import Problem
from caliper_stream.read import read_bytes
from caliper_stream.store.base import Store, StoredDeadLetter, WriteResult


class Replayed(msgspec.Struct):
    id: int
    ok: bool
    result: WriteResult = msgspec.field(default_factory=WriteResult)
    reasons: list[Problem] = msgspec.field(default_factory=list)
    missing: bool = False


def replay_one(store: Store, dl: StoredDeadLetter, *, strict: bool, privacy: Protection | None = None) -> Replayed:
    if dl.replayed_at is not None:
        return Replayed(dl.id, ok=False, reasons=[Problem("", f"already replayed at {dl.replayed_at}")])
    batch = prepare(read_bytes(dl.raw, dl.source), source=dl.source, strict=strict, privacy=privacy)
    if batch.dead_letters or not batch.rows:
        reasons = [p for d in batch.dead_letters for p in d.reasons]
        return Replayed(dl.id, ok=False, reasons=reasons)
    return Replayed(dl.id, ok=True, result=store.replay_dead_letter(dl.id, batch.rows))


def pending(store: Store, page: int = 500) -> Iterable[StoredDeadLetter]:
    """Every pending dead letter, a page at a time."""
    after = 0
    while letters := store.list_dead_letters(page, after_id=after):
        yield from letters
        after = letters[-1].id


def replay(store: Store, ids: Iterable[int] = (), *, strict: bool = False) -> list[Replayed]:
    """Replay the given dead letters, or every pending one when `ids` is empty."""
    wanted = list(ids)
    outcomes: list[Replayed] = []
    privacy = protection_for(store)
    settings = load_settings(store) if privacy is not None else None

    def protection(dl: StoredDeadLetter) -> Protection | None:
        # kept bytes of a pseudonymous store are pseudonymised already: only those stored
        # before `privacy enable` (and not yet rewritten by `privacy apply`) still need it
        if settings is None or not stored_clear(settings, "dead_letters", dl.id):
            return None
        return privacy

    if not wanted:
        return [replay_one(store, dl, strict=strict, privacy=protection(dl)) for dl in list(pending(store))]
    for id in wanted:
        dl = store.get_dead_letter(id)
        if dl is None:
            outcomes.append(Replayed(id, ok=False, missing=True, reasons=[Problem("", "no such dead letter")]))
        else:
            outcomes.append(replay_one(store, dl, strict=strict, privacy=protection(dl)))
    return outcomes
