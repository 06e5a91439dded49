"""``privacy scan``: which kinds of personal data a store holds, counted by field and event type,
with the same rules pseudonymisation applies (so the scan shows exactly what `apply` changes)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import msgspec

from caliper_stream.privacy.rules import KeepPolicy, Rewriter
from caliper_stream.store.base import Store

_decode = msgspec.json.Decoder().decode
_PAGE = 1000
UNREADABLE = "(unreadable bytes)"


class Finding(msgspec.Struct):
    table: str
    event_type: str
    field: str
    count: int


def _counter(counts: Counter[tuple[str, str, str]], table: str, label: str) -> Callable[[str], None]:
    def found(field: str) -> None:
        counts[(table, label, field)] += 1

    return found


def scan(store: Store) -> list[Finding]:
    """Counts of personal fields in events (by event type) and dead letters, largest first."""
    counts: Counter[tuple[str, str, str]] = Counter()
    policy = KeepPolicy()
    for table, sql in (
        ("events", "SELECT id, raw_codec, raw, type FROM events WHERE id > ? ORDER BY id LIMIT ?"),
        ("dead_letters", "SELECT id, NULL, raw, NULL FROM dead_letters WHERE id > ? ORDER BY id LIMIT ?"),
    ):
        after = 0
        while rows := store.query(sql, (after, _PAGE)):
            after = int(rows[-1][0])
            for _, codec, raw, kind in rows:
                label = str(kind or ("dead letter" if table == "dead_letters" else "unknown"))
                try:
                    doc = _decode(store.decode_raw(codec, raw))
                except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
                    counts[(table, label, UNREADABLE)] += 1
                    continue
                Rewriter(policy, found=_counter(counts, table, label)).rewrite(doc)
    return [Finding(t, k, f, n) for (t, k, f), n in sorted(counts.items(), key=lambda x: (x[0][0] != "events", -x[1], x[0]))]
