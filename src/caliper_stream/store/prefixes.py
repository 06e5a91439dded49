"""IRI prefixes stored once: the long IRIs of key data as a prefix id and the rest.

Learn's actor, object and session IRIs all start with the same ~95 characters
(``https://caliper-mapping.cloudbb.blackboard.com/v1/sites/<site>/users/``), and ``sensor`` and
``site`` are the same value on every event: stored whole they were 42 % of the key data
(docs/storage.md "Where the rest is"). Each of those `COLUMNS` is stored as two: ``<c>_prefix``,
the id of a row of ``iri_prefixes``, and ``<c>_suffix``, the rest of the value. The split is at
the last ``/`` (``sensor`` and ``site``: the whole value is the prefix), so the table holds a
few rows per site and kind of entity, never one per user or session. A value without ``/``, or
whose prefix is longer than `MAX_PREFIX`, is all suffix (prefix NULL). Readers select the whole
values from the view ``event_view`` (migration 0015), which joins them back together.

Prefixes are never rewritten. `purge` deletes the ones no event names any more (privacy: an odd
IRI may hold a person's identifier before its last ``/``) and moves the table's ``generation``,
so every process drops the ids it remembers. A write transaction checks that generation before
it uses a remembered id; on PostgreSQL it first takes the lock every insert takes on
``events``, which `purge`'s SHARE lock excludes, so no insert can name a prefix deleted under it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from caliper_stream.store.common import Tx

#: Key-data columns stored as a prefix id and a suffix.
COLUMNS = ("sensor", "site", "actor_id", "object_id", "session_id")
#: Columns whose whole value is the prefix (one value per sensor or site).
WHOLE = frozenset({"sensor", "site"})
#: Longer prefixes are not stored (``iri_prefixes.prefix`` is uniquely indexed).
MAX_PREFIX = 512

#: A value as stored: the id of its prefix (None: none) and the rest.
Parts = tuple[int | None, str | None]
Splitters = tuple[
    dict[str | None, Parts], dict[str | None, Parts], Callable[[str | None], Parts], Callable[[str | None], Parts]
]


def split(column: str, value: str | None) -> tuple[str | None, str | None]:
    """``(prefix, suffix)`` of a value of `column`; prefix + suffix is the value."""
    if value is None:
        return None, None
    cut = len(value) if column in WHOLE else value.rfind("/") + 1
    if cut == 0 or cut > MAX_PREFIX:
        return None, value
    return value[:cut], value[cut:]


class Prefixes:
    """The ids of the prefixes a store holds, remembered across transactions.

    `splitters` is called inside write transactions only (under the store's write lock); the
    first call of a transaction checks the table's generation. Ids inserted by a transaction become
    known to the process only once it commits (`end`): one rolled back may be reused.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids: dict[str, int] = {}
        self._generation: int | None = None
        self._tx: Tx | None = None
        self._new: dict[str, int] = {}
        # values already split in this transaction (a batch repeats its sites, users, sessions)
        self._whole: dict[str | None, Parts] = {None: (None, None)}
        self._split: dict[str | None, Parts] = {None: (None, None)}

    def splitters(self, tx: Tx) -> Splitters:
        """For values to store in `tx`: the memos of values already split in its transaction
        (`WHOLE` columns', the others'), and what splits a value of either kind into
        ``(prefix id, suffix)``, inserting a new prefix in `tx`'s transaction."""
        if self._tx is not tx:
            self._begin(tx)
        return self._whole, self._split, self.whole, self.split

    def whole(self, value: str | None) -> Parts:
        found = self._whole.get(value)
        if found is None:
            found = self._whole[value] = self._parts("sensor", value)
        return found

    def split(self, value: str | None) -> Parts:
        found = self._split.get(value)
        if found is None:
            found = self._split[value] = self._parts("actor_id", value)
        return found

    def _parts(self, column: str, value: str | None) -> Parts:
        prefix, suffix = split(column, value)
        return (None if prefix is None else self._id(prefix)), suffix

    def _id(self, prefix: str) -> int:
        """The id of `prefix`, inserted in the open transaction if the store has none yet."""
        found = self._ids.get(prefix)
        if found is None:
            found = self._new.get(prefix)
        if found is None:
            tx = self._tx
            assert tx is not None, "prefix ids are looked up in write transactions only"
            rows = tx.fetchall(
                "INSERT INTO iri_prefixes (prefix) VALUES (?) ON CONFLICT (prefix) DO NOTHING RETURNING id", (prefix,)
            ) or tx.fetchall("SELECT id FROM iri_prefixes WHERE prefix = ?", (prefix,))
            found = self._new[prefix] = int(rows[0][0])
        return found

    def _begin(self, tx: Tx) -> None:
        if tx.dialect == "postgresql":  # waits for a purge in progress; excludes one until commit
            tx.execute("LOCK TABLE events IN ROW EXCLUSIVE MODE")
        generation = int(tx.fetchall("SELECT generation FROM iri_prefix_state")[0][0])
        with self._lock:
            if generation != self._generation:
                self._ids = {str(p): int(i) for i, p in tx.fetchall("SELECT id, prefix FROM iri_prefixes")}
                self._generation = generation
        self._tx = tx
        self._new = {}
        self._whole = {None: (None, None)}
        self._split = {None: (None, None)}

    def end(self, *, committed: bool) -> None:
        """The write transaction ended: remember the prefixes it inserted if it committed; else
        forget everything (what was loaded in it may include its own inserts)."""
        with self._lock:
            if not committed:
                self._generation = None
            elif self._new:
                self._ids = {**self._ids, **self._new}
        self._tx = None
        self._new = {}
        self._whole = {None: (None, None)}
        self._split = {None: (None, None)}


def purge(tx: Tx, *, containing: Collection[str] | None = None) -> int:
    """Delete the prefixes no event names; return how many. With `containing`, nothing happens
    unless some prefix holds one of those strings (a person's identifiers: the usual prefixes
    hold none, and this then costs no scan of ``events``)."""
    if containing is not None:
        held = [p for (p,) in tx.fetchall("SELECT prefix FROM iri_prefixes")]
        if not any(n in p for p in held for n in containing if n):
            return 0
    if tx.dialect == "postgresql":  # waits for inserts in flight, which may name any prefix
        tx.execute("LOCK TABLE events IN SHARE MODE")
    named: set[int] = set()
    columns = ", ".join(f"{c}_prefix" for c in COLUMNS)
    for row in tx.fetchall(f"SELECT DISTINCT {columns} FROM events"):
        named.update(int(i) for i in row if i is not None)
    stored = [int(i) for (i,) in tx.fetchall("SELECT id FROM iri_prefixes")]
    unused = [(i,) for i in stored if i not in named]
    tx.executemany("DELETE FROM iri_prefixes WHERE id = ?", unused)
    if unused:
        tx.execute("UPDATE iri_prefix_state SET generation = generation + 1")
    return len(unused)
