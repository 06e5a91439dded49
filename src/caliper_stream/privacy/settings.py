"""A store's privacy settings, kept in its ``privacy_settings`` table (never the secret itself)."""

from __future__ import annotations

from typing import Literal

import msgspec

from caliper_stream.ingest import now
from caliper_stream.store.base import Store
from caliper_stream.store.common import Tx

Mode = Literal["clear", "pseudonymous"]
ClientData = Literal["drop", "truncate"]


class PrivacySettings(msgspec.Struct, kw_only=True):
    """``mode`` clear (events stored as received) or pseudonymous (see `caliper_stream.privacy`).

    ``secret`` is where the secret is expected (``file:PATH`` or ``env:NAME``), ``fingerprint``
    identifies it; ``ip``/``agent`` say what becomes of client addresses and user agents;
    ``identity`` is ``table`` (this database), ``none`` or the URL of a separate database."""

    mode: Mode = "clear"
    secret: str | None = None
    fingerprint: str | None = None
    ip: ClientData = "drop"
    agent: ClientData = "drop"
    identity: str = "table"
    enabled_at: str | None = None
    #: `privacy apply`: the last events id rewritten (resumable), "done" when finished
    applied_events: str | None = None
    applied_dead_letters: str | None = None


_FIELDS = PrivacySettings.__struct_fields__


def load_settings(store: Store) -> PrivacySettings:
    rows = store.query("SELECT name, value FROM privacy_settings")
    values = {str(n): str(v) for n, v in rows if n in _FIELDS}
    return msgspec.convert(values, PrivacySettings)


def save_settings(tx: Tx, settings: PrivacySettings, names: tuple[str, ...] = _FIELDS) -> None:
    """Write `names` of `settings` inside the transaction `tx` (None values are removed)."""
    for name in names:
        value = getattr(settings, name)
        tx.execute("DELETE FROM privacy_settings WHERE name = ?", (name,))
        if value is not None:
            tx.execute("INSERT INTO privacy_settings (name, value) VALUES (?, ?)", (name, str(value)))


def enable(
    store: Store, *, secret_source: str, fingerprint: str, ip: ClientData, agent: ClientData, identity: str
) -> PrivacySettings:
    """Switch `store` to pseudonymous mode (the caller has checked the secret)."""
    current = load_settings(store)
    if current.mode == "pseudonymous" and current.fingerprint not in (None, fingerprint):
        from caliper_stream.privacy.secret import PrivacyError

        raise PrivacyError(
            "this store is already pseudonymous with another secret (fingerprint "
            f"{current.fingerprint}); a new secret would break every join with earlier events"
        )
    settings = msgspec.structs.replace(
        current,
        mode="pseudonymous",
        secret=secret_source,
        fingerprint=fingerprint,
        ip=ip,
        agent=agent,
        identity=identity,
        enabled_at=current.enabled_at or now(),
    )

    def write(tx: Tx) -> None:
        if settings.applied_events is None:  # what `privacy apply` will rewrite: all stored so far
            events = tx.fetchall("SELECT coalesce(max(id), 0) FROM events")[0][0]
            letters = tx.fetchall("SELECT coalesce(max(id), 0) FROM dead_letters")[0][0]
            settings.applied_events = f"0/{int(events)}"
            settings.applied_dead_letters = f"0/{int(letters)}"
        save_settings(tx, settings)

    store.transact(write)
    return settings
