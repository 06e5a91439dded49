"""``forget``: erase one person from a store, on request, and prove it left the files.

What is removed (see ``docs/privacy.md``):

- their rows in the identity table (after which a pseudonym no longer leads to anyone);
- in their events, every identifier of theirs (uuid, pk1, batch_uid, name, e-mail, and the
  pseudonyms of these) is replaced by one random token, names, e-mail addresses, IP addresses
  and user agents in those events are removed, and the key data is recomputed: counts and
  grades stay, the person does not. With ``delete_events`` the events are deleted instead;
- every dead letter that mentions one of their identifiers (unreadable input cannot be
  redacted reliably, so here erasure outweighs "nothing is lost");
- then the store is vacuumed (SQLite: secure_delete, VACUUM, WAL truncated; PostgreSQL:
  VACUUM FULL), and the outcome is recorded in the audit trail without the identifiers.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable
from functools import partial

import msgspec

from caliper_stream.analyse.summary import TABLES as SUMMARY_TABLES
from caliper_stream.errors import StoreUnavailable
from caliper_stream.privacy import identity_store, load_settings, protection_for
from caliper_stream.privacy.audit import record
from caliper_stream.privacy.identity import people
from caliper_stream.privacy.rewrite import refresh_derived, update_event
from caliper_stream.privacy.rules import KeepPolicy, Rewriter
from caliper_stream.store.base import Store
from caliper_stream.store.codec import retrain
from caliper_stream.store.common import Tx
from caliper_stream.store.prefixes import purge as purge_prefixes

_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode
_PAGE = 1000


class Forgotten(msgspec.Struct):
    identities: int = 0
    events_redacted: int = 0
    events_deleted: int = 0
    dead_letters: int = 0
    warnings: list[str] = msgspec.field(default_factory=list)


class ForgetPolicy:
    """The target's identifiers → one random token; names, e-mails and client data removed."""

    def __init__(self, targets: set[str], token: str) -> None:
        self.targets = targets
        self.token = token
        self.matched = False

    def identifier(self, value: str) -> str:
        if value in self.targets:
            self.matched = True
            return self.token
        return value

    def person_text(self, value: str, person: str | None) -> str | None:
        return None

    def ip(self, value: str) -> str | None:
        return None

    def agent(self, value: str) -> str | None:
        return None


def _mentions(targets: Iterable[str]) -> re.Pattern[bytes]:
    """Whole-identifier occurrences (``_1_1`` must not match inside ``_41_1`` or ``_1_10``)."""
    alternatives = b"|".join(re.escape(t.encode()) for t in sorted(targets, key=len, reverse=True))
    return re.compile(rb"(?<![A-Za-z0-9])(?:" + alternatives + rb")(?![A-Za-z0-9_])")


def identifiers(store: Store, term: str) -> tuple[set[str], set[str], Store | None]:
    """Every identifier `term` stands for (values and pseudonyms), the persons it names in the
    identity table, and the store holding that table."""
    settings = load_settings(store)
    protection = protection_for(store)
    targets = {term}
    if protection is not None:
        targets.add(protection.pseudonym(term))
    ids = identity_store(store, settings)
    persons: set[str] = set()
    if ids is not None:
        for person in people(ids, term, protection.pseudonym(term) if protection else None):
            persons.add(person.person)
            targets.add(person.person)
            targets.update(person.values.values())
            targets.update(person.pseudonyms.values())
            if protection is not None:
                targets.update(protection.pseudonym(v) for v in person.values.values())
    targets = _discover(store, {t for t in targets if t})
    return targets, persons, ids


def _collect(targets: set[str], found: set[str]) -> Callable[[dict[str, str]], None]:
    def seen(ids: dict[str, str]) -> None:
        if targets & set(ids.values()):
            found.update(ids.values())

    return seen


def _discover(store: Store, targets: set[str]) -> set[str]:
    """`targets` plus every other identifier of the same person found in the events: the entity
    (or LTI launch) that names them by one identifier names them by the others too (a clear
    store keeps no identity table, and a uuid must also erase the pk1 and batch_uid)."""
    for _ in range(3):
        mention = _mentions(targets)
        found: set[str] = set()
        seen = _collect(targets, found)
        after = 0
        while rows := store.query("SELECT id, raw_codec, raw FROM events WHERE id > ? ORDER BY id LIMIT ?", (after, _PAGE)):
            after = int(rows[-1][0])
            for _, codec, stored in rows:
                raw = store.decode_raw(codec, stored)
                if mention.search(raw):
                    try:
                        Rewriter(KeepPolicy(), people=seen).rewrite(_decode(raw))
                    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
                        continue
        if found <= targets:
            break
        targets = targets | found
    return targets


def forget(
    store: Store, term: str, *, actor: str, delete_events: bool = False, vacuum: bool = True
) -> Forgotten:
    """Erase the person `term` names (a uuid, pk1, batch_uid, or a pseudonym of one).

    Refused while request bodies wait in the inbox (a clear store's, acknowledged and not yet
    digested): digested after the erasure, they would bring the person back."""
    waiting = store.inbox_backlog()
    if waiting.rows:
        raise StoreUnavailable(
            f"{waiting.rows} request bodies wait in the inbox to be digested; erase once `stats` shows none"
        )
    targets, persons, ids = identifiers(store, term)
    out = Forgotten()
    mention = _mentions(targets)
    token = secrets.token_hex(16)
    # long identifiers (uuids, pseudonyms, batch_uids, names) are also replaced inside free text;
    # short ones (pk1 such as ``_1_1``) only where they are a person identifier, since courses
    # and content have pk1s of the same form
    long_ids = [t for t in targets if len(t) >= 8]
    in_text = _mentions(long_ids) if long_ids else None
    after = 0
    while rows := store.query("SELECT id, raw_codec, raw FROM events WHERE id > ? ORDER BY id LIMIT ?", (after, _PAGE)):
        after = int(rows[-1][0])
        todo: list[tuple[int, bytes | None]] = []
        for row_id, codec, stored in rows:
            raw = store.decode_raw(codec, stored)
            if not mention.search(raw):
                continue
            policy = ForgetPolicy(targets, token)
            try:
                new = _encode(Rewriter(policy).rewrite(_decode(raw)))
            except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
                todo.append((int(row_id), None))  # unreadable stored bytes: only deletion is safe
                continue
            matched = policy.matched
            if in_text is not None and in_text.search(new):
                new, matched = in_text.sub(token.encode(), new), True
            if matched:
                todo.append((int(row_id), None if delete_events else new))

        def work(tx: Tx, todo: list[tuple[int, bytes | None]] = todo) -> None:
            for row_id, new in todo:
                if new is None or update_event(tx, row_id, new) == "unreadable":
                    tx.execute("DELETE FROM events WHERE id = ?", (row_id,))
                    out.events_deleted += 1
                else:
                    out.events_redacted += 1

        if todo:
            store.transact(work)
    in_letters = _letter_mentions(targets)
    after = 0
    while rows := store.query("SELECT id, raw FROM dead_letters WHERE id > ? ORDER BY id LIMIT ?", (after, _PAGE)):
        after = int(rows[-1][0])
        doomed = [int(i) for i, raw in rows if in_letters.search(bytes(raw))]
        if doomed:
            _delete(store, "dead_letters", doomed)
            out.dead_letters += len(doomed)
    if ids is not None:
        out.identities = _forget_identities(ids, targets, persons)
    retrain(store, containing=[t.encode() for t in targets])  # fragments in compression dictionaries
    store.transact(partial(purge_prefixes, containing=targets))  # an IRI prefix holding an identifier
    refresh_derived(store)
    if vacuum:
        out.warnings += store.vacuum(["events", "dead_letters", "dictionaries", "iri_prefixes", "identities", *SUMMARY_TABLES, "gb_cells"])
        if ids is not None and ids is not store:
            out.warnings += ids.vacuum(["identities"])
    record(
        store,
        actor,
        "forget",
        f"1 person: {out.identities} identity rows, {out.events_redacted} events redacted,"
        f" {out.events_deleted} events deleted, {out.dead_letters} dead letters deleted",
        {k: v for k, v in msgspec.to_builtins(out).items() if k != "warnings"},
    )
    return out


def _letter_mentions(targets: set[str]) -> re.Pattern[bytes]:
    """What makes a dead letter theirs: a long identifier anywhere, a short one (a pk1, which
    courses and assessments share in form) only as the value of a person key."""
    long_ids = sorted((t for t in targets if len(t) >= 8), key=len, reverse=True)
    short = sorted((t for t in targets if len(t) < 8), key=len, reverse=True)
    parts = []
    if long_ids:
        parts.append(rb"(?<![A-Za-z0-9])(?:" + b"|".join(re.escape(t.encode()) for t in long_ids) + rb")(?![A-Za-z0-9_])")
    if short:
        keys = rb'"(?:bb:user\.id|bb:user\.externalId|user_id|lis_person_sourcedid|batchUid|id)"\s*:\s*"'
        parts.append(keys + rb"(?:" + b"|".join(re.escape(t.encode()) for t in short) + rb')"')
    return re.compile(b"|".join(parts) if parts else rb"(?!)")


def _delete(store: Store, table: str, ids: list[int]) -> None:
    def work(tx: Tx) -> None:
        tx.executemany(f"DELETE FROM {table} WHERE id = ?", [(i,) for i in ids])

    store.transact(work)


def _forget_identities(ids: Store, targets: set[str], persons: set[str]) -> int:
    probes = sorted(targets | persons)

    def work(tx: Tx) -> int:
        n = 0
        for i in range(0, len(probes), 300):
            chunk = probes[i : i + 300]
            marks = ", ".join("?" * len(chunk))
            n += tx.execute(
                f"DELETE FROM identities WHERE person IN ({marks}) OR pseudonym IN ({marks}) OR value IN ({marks})",
                (*chunk, *chunk, *chunk),
            )
        return n

    return int(ids.transact(work))
