"""Student data handled the way a privacy office requires: pseudonymised at the door (opt-in per
store), an optional identity table, erasure, retention and an audit trail.

The pipeline hook is `protection_for`: the `Protection` of a pseudonymous store (None for a
clear-text one), which every way in passes to `caliper_stream.ingest.prepare`.
"""

from __future__ import annotations

from caliper_stream.privacy.identity import IdentityTable
from caliper_stream.privacy.protect import Protection
from caliper_stream.privacy.secret import PrivacyError, Pseudonym, fingerprint, read_secret
from caliper_stream.privacy.settings import PrivacySettings, load_settings
from caliper_stream.store.base import Store

__all__ = ["PrivacyError", "PrivacySettings", "Protection", "identity_store", "load_settings", "protection_for"]

_identity_stores: dict[str, Store] = {}


def identity_store(store: Store, settings: PrivacySettings) -> Store | None:
    """The store holding the identity table: this one, a separate database, or none."""
    if settings.identity == "none":
        return None
    if settings.identity == "table":
        return store
    found = _identity_stores.get(settings.identity)
    if found is None:
        from caliper_stream.store import open_store

        found = _identity_stores[settings.identity] = open_store(settings.identity)
    return found


def protection_for(store: Store) -> Protection | None:
    """The pseudonymisation `store` requires, or None when it keeps events in clear text.

    Raises PrivacyError when the store is pseudonymous but its secret is missing or is not the
    one the store was enabled with (events would no longer join with earlier ones)."""
    settings = load_settings(store)
    if settings.mode != "pseudonymous":
        return None
    secret = read_secret(settings.secret or "")
    if fingerprint(secret) != settings.fingerprint:
        raise PrivacyError(
            f"the pseudonymisation secret ({settings.secret}) is not the one this store was enabled with"
            f" (fingerprint {fingerprint(secret)}, expected {settings.fingerprint})"
        )
    ids = identity_store(store, settings)
    return Protection(
        Pseudonym(secret),
        ip=settings.ip,
        agent=settings.agent,
        identities=IdentityTable(ids) if ids is not None else None,
    )
