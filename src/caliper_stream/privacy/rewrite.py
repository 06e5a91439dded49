"""Rewriting stored events in place (``privacy apply``, ``forget`` in a clear-text store): the
new bytes are decoded again, so the event key and the key data always match the stored bytes."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from caliper_stream.event import decode
from caliper_stream.ingest import DeadLetter, Row
from caliper_stream.read import RawEvent
from caliper_stream.store.base import Store
from caliper_stream.store.common import EVENT_COLUMNS, Tx, dead_letter_digest

_SET = ", ".join(f"{c} = ?" for c in EVENT_COLUMNS[:-2])  # source and received_at stay


def update_event(tx: Tx, row_id: int, raw: bytes) -> str:
    """Store `raw` as event `row_id` with its new key and key data; a new key that another row
    already has makes this row a duplicate, which is then deleted. Returns what happened:
    ``updated``, ``merged`` or ``unreadable`` (bytes no longer an event: left unchanged)."""
    event = decode(RawEvent(0, "", raw))
    if event.rejection is not None:
        return "unreadable"
    if tx.fetchall("SELECT 1 FROM events WHERE event_key = ? AND id <> ?", (tx.stored_key(event.key), row_id)):
        tx.execute("DELETE FROM events WHERE id = ?", (row_id,))
        return "merged"
    values = tx.event_values([Row(event.key, raw, event.keydata(), None, "")])[0][:-2]
    tx.execute(f"UPDATE events SET {_SET} WHERE id = ?", (*values, row_id))
    return "updated"


def update_dead_letter(tx: Tx, row_id: int, raw: bytes, source: str | None) -> str:
    digest = dead_letter_digest(DeadLetter(raw, [], source, ""))
    if tx.fetchall("SELECT 1 FROM dead_letters WHERE digest = ? AND id <> ?", (digest, row_id)):
        tx.execute("DELETE FROM dead_letters WHERE id = ?", (row_id,))
        return "merged"
    tx.execute("UPDATE dead_letters SET raw = ?, digest = ? WHERE id = ?", (raw, digest, row_id))
    return "updated"


def changes(rows: Sequence[tuple[int, bytes]], transform: Callable[[bytes], bytes]) -> list[tuple[int, bytes]]:
    """The rows whose bytes `transform` changes, with their new bytes."""
    out = []
    for row_id, raw in rows:
        new = transform(raw)
        if new != raw:
            out.append((row_id, new))
    return out


def refresh_derived(store: Store) -> None:
    """Rebuild the analytics summaries and the kept gradebook cells now: rewriting or deleting
    events marks them dirty, and until the rebuild they still hold the old identifiers (which a
    vacuum must not keep)."""
    from caliper_stream.analyse.gradebook import refresh as refresh_cells
    from caliper_stream.analyse.summary import refresh as refresh_summaries

    refresh_summaries(store)
    refresh_cells(store)
