"""``privacy apply``: pseudonymise a store's existing events and dead letters in place.

Only what was stored before ``privacy enable`` is rewritten (everything after came through the
door already pseudonymised, and pseudonymising a pseudonym would break joins): the ids at the
moment of enabling bound the run. Progress is saved with every batch, so an interrupted run
resumes where it stopped. At the end the database is vacuumed so that the clear bytes leave the
files (see `Store.vacuum`).
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from caliper_stream.analyse.summary import TABLES as SUMMARY_TABLES
from caliper_stream.privacy.audit import record
from caliper_stream.privacy.protect import Protection
from caliper_stream.privacy.rewrite import (
    changes,
    refresh_derived,
    update_dead_letter,
    update_event,
)
from caliper_stream.privacy.secret import PrivacyError
from caliper_stream.privacy.settings import PrivacySettings, load_settings, save_settings
from caliper_stream.read import RawEvent
from caliper_stream.store.base import Store
from caliper_stream.store.codec import retrain
from caliper_stream.store.common import Tx
from caliper_stream.store.prefixes import purge as purge_prefixes

BATCH = 1000


class Applied(msgspec.Struct):
    events: int = 0
    updated: int = 0
    merged: int = 0
    unreadable: int = 0
    dead_letters: int = 0
    warnings: list[str] = msgspec.field(default_factory=list)


def remaining(store: Store, settings: PrivacySettings) -> tuple[int, int]:
    """How many events and dead letters are still to rewrite."""
    ev_after, ev_upto = _bounds(settings.applied_events)
    dl_after, dl_upto = _bounds(settings.applied_dead_letters)
    events = store.query("SELECT count(*) FROM events WHERE id > ? AND id <= ?", (ev_after, ev_upto))[0][0]
    letters = store.query("SELECT count(*) FROM dead_letters WHERE id > ? AND id <= ?", (dl_after, dl_upto))[0][0]
    return int(events), int(letters)


def stored_clear(settings: PrivacySettings, table: str, row_id: int) -> bool:
    """Whether row `row_id` of `table` was stored before `privacy enable` and is not yet
    rewritten by `apply` (every later row came through the door already pseudonymised)."""
    after, upto = _bounds(settings.applied_events if table == "events" else settings.applied_dead_letters)
    return after < row_id <= upto


def _bounds(value: str | None) -> tuple[int, int]:
    """``after/upto`` as saved by `privacy enable` and each batch."""
    if not value:
        return 0, 0
    after, _, upto = value.partition("/")
    return int(after), int(upto)


def apply(
    store: Store,
    protection: Protection,
    *,
    batch: int = BATCH,
    actor: str = "operator",
    vacuum: bool = True,
    progress: Callable[[int], None] | None = None,
) -> Applied:
    """Rewrite every event and dead letter stored in clear text; `progress(n)` after each batch."""
    settings = load_settings(store)
    if settings.mode != "pseudonymous":
        raise PrivacyError("this store is not pseudonymous; run `caliper-stream privacy enable` first")
    out = Applied()

    def protect_event(raw: bytes) -> bytes:
        return protection.protect(RawEvent(0, "", raw)).raw

    for table in ("events", "dead_letters"):
        outcomes = _rewrite_table(store, settings, table, protect_event if table == "events" else protection.scrub, batch, progress)
        if table == "events":
            out.events = len(outcomes)
            out.updated = outcomes.count("updated")
            out.merged = outcomes.count("merged")
            out.unreadable = outcomes.count("unreadable")
        else:
            out.dead_letters = len(outcomes) - outcomes.count("unchanged")
    retrain(store)  # its compression dictionaries were trained on the clear events
    store.transact(purge_prefixes)  # IRI prefixes only clear events named
    refresh_derived(store)
    if vacuum:
        out.warnings += store.vacuum(["events", "dead_letters", "dictionaries", "iri_prefixes", *SUMMARY_TABLES, "gb_cells"])
    record(
        store,
        actor,
        "privacy.apply",
        f"{out.updated} events and {out.dead_letters} dead letters pseudonymised in place",
        msgspec.to_builtins(out),
    )
    return out


def _rewrite_table(
    store: Store,
    settings: PrivacySettings,
    table: str,
    transform: Callable[[bytes], bytes],
    batch: int,
    progress: Callable[[int], None] | None,
) -> list[str]:
    """Rewrite the clear rows of `table` a batch per transaction, saving progress with each;
    one outcome per row read (``unchanged`` when it held nothing personal)."""
    field = "applied_events" if table == "events" else "applied_dead_letters"
    after, upto = _bounds(getattr(settings, field))
    extra = ", source" if table == "dead_letters" else ""
    codec = "raw_codec" if table == "events" else "NULL"
    outcomes: list[str] = []
    while after < upto:
        rows = store.query(
            f"SELECT id, {codec}, raw{extra} FROM {table} WHERE id > ? AND id <= ? ORDER BY id LIMIT ?",
            (after, upto, batch),
        )
        last = int(rows[-1][0]) if rows else upto
        sources = {int(r[0]): r[3] for r in rows} if extra else {}
        todo = changes([(int(r[0]), store.decode_raw(r[1], r[2])) for r in rows], transform)

        def work(tx: Tx, todo: list[tuple[int, bytes]] = todo, last: int = last, sources: dict[int, str | None] = sources) -> list[str]:
            if table == "events":
                done = [update_event(tx, i, raw) for i, raw in todo]
            else:
                done = [update_dead_letter(tx, i, raw, sources[i]) for i, raw in todo]
            setattr(settings, field, f"{last}/{upto}")
            save_settings(tx, settings, (field,))
            return done

        outcomes += store.transact(work) + ["unchanged"] * (len(rows) - len(todo))
        after = last
        if progress is not None and rows:
            progress(len(rows))
    return outcomes
