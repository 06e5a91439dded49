"""The identity table: pseudonym → real identifier, kept only when the institution wants it.

Rows are ``(pseudonym, kind, value, person)``: one per identifier of a person (``uuid``,
``pk1``, ``batch_uid``, ``name``, ``email``), grouped by ``person``, the pseudonym of the
person's uuid. It lives in this store's ``identities`` table or in a separate database
(``privacy enable --identity URL``), so that it can be kept, secured and erased apart from the
events. The dashboard calls `names_for` for keys with the identity right only.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

import msgspec

from caliper_stream.ingest import now
from caliper_stream.store.base import Store
from caliper_stream.store.common import Tx

KINDS = ("uuid", "pk1", "batch_uid", "name", "email")


class Identity(msgspec.Struct):
    """One person as the identity table knows them: their identifiers by kind and pseudonyms."""

    person: str
    values: dict[str, str]
    pseudonyms: dict[str, str]


class IdentityTable:
    """Write-through cache over an ``identities`` table (only unseen rows are written)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._known: set[tuple[str, str]] | None = None
        self._lock = threading.Lock()

    def _load(self) -> set[tuple[str, str]]:
        if self._known is None:
            self._known = {(str(p), str(k)) for p, k in self.store.query("SELECT pseudonym, kind FROM identities")}
        return self._known

    def remember(self, entries: Iterable[tuple[str, str, str, str]]) -> None:
        """Record ``(pseudonym, kind, value, person)`` rows not yet recorded (one commit)."""
        with self._lock:
            known = self._load()
            fresh = {(p, k): (p, k, v, person) for p, k, v, person in entries if (p, k) not in known}
            if not fresh:
                return
            at = now()

            def write(tx: Tx) -> None:
                for p, k, v, person in fresh.values():
                    tx.execute(
                        "INSERT INTO identities (pseudonym, kind, value, person, first_seen) VALUES (?, ?, ?, ?, ?)"
                        " ON CONFLICT (pseudonym, kind) DO NOTHING",
                        (p, k, v, person, at),
                    )

            self.store.transact(write)
            known.update(fresh)

    def forget_cache(self) -> None:
        with self._lock:
            self._known = None


def people(store: Store, term: str, pseudonym_of_term: str | None) -> list[Identity]:
    """Everyone `term` names: a pseudonym, or a uuid, pk1, batch_uid, name or e-mail address."""
    probes = [term] + ([pseudonym_of_term] if pseudonym_of_term else [])
    marks = ", ".join("?" * len(probes))
    persons = {
        str(r[0])
        for r in store.query(
            f"SELECT person FROM identities WHERE pseudonym IN ({marks}) OR value = ? OR person IN ({marks})",
            (*probes, term, *probes),
        )
    }
    return [_identity(store, p) for p in sorted(persons)]


def _identity(store: Store, person: str) -> Identity:
    rows = store.query("SELECT kind, value, pseudonym FROM identities WHERE person = ? ORDER BY first_seen", (person,))
    values: dict[str, str] = {}
    pseudonyms: dict[str, str] = {}
    for kind, value, pseudonym in rows:
        values.setdefault(str(kind), str(value))
        pseudonyms.setdefault(str(kind), str(pseudonym))
    return Identity(person, values, pseudonyms)


def names_for(store: Store, pseudonyms: Iterable[str]) -> dict[str, dict[str, str]]:
    """``{pseudonym: {kind: value}}`` for the given pseudonyms (of any kind), for showing real
    names to a reader with the identity right. Unknown pseudonyms are left out."""
    wanted = sorted(set(pseudonyms))
    out: dict[str, dict[str, str]] = {}
    for i in range(0, len(wanted), 500):
        chunk = wanted[i : i + 500]
        marks = ", ".join("?" * len(chunk))
        rows = store.query(
            f"SELECT i.pseudonym, j.kind, j.value FROM identities i JOIN identities j ON j.person = i.person"
            f" WHERE i.pseudonym IN ({marks})",
            chunk,
        )
        for p, kind, value in rows:
            out.setdefault(str(p), {}).setdefault(str(kind), str(value))
    return out
