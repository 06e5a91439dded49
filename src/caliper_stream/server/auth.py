"""API keys: one per Learn site or Caliper provider, its name recorded as each event's source.

Only a SHA-256 hash of a key is stored. Learn sends the key either raw (``Authorization:
<key>``, Blackboard's own convention) or as ``Authorization: Bearer <key>`` (the Caliper spec),
so both are accepted. The active hashes are cached for `Settings.key_cache_seconds` and compared
in constant time, so a request costs no database round trip and leaks no timing.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import math
import time
import uuid
from collections import Counter

from caliper_stream.store.base import Store


def generate_key() -> str:
    """A new random key. A UUID4 (122 random bits from the OS) because Learn's settings page
    recommends "a true UUID" for its API Key field."""
    return str(uuid.uuid4())


#: a registered key must be at least this long and carry at least this many bits (see `weak_key`)
MIN_KEY_LENGTH = 16
MIN_KEY_BITS = 64


def weak_key(key: str) -> str | None:
    """Why `key` is too easy to guess, or None. Keys are compared as given (hashed), so their
    strength is what the operator chose: at least `MIN_KEY_LENGTH` characters, and at least
    `MIN_KEY_BITS` bits estimated from its characters' frequencies (Shannon), which refuses
    ``aaaaaaaaaaaaaaaa`` or ``abcabcabcabcabca``; a UUID (Learn's suggestion) carries ~130."""
    if len(key) < MIN_KEY_LENGTH:
        return f"it has {len(key)} characters (at least {MIN_KEY_LENGTH} needed)"
    counts = Counter(key)
    bits = -sum(n * math.log2(n / len(key)) for n in counts.values())
    if bits < MIN_KEY_BITS:
        return f"it carries about {bits:.0f} bits of entropy (at least {MIN_KEY_BITS} needed): too few distinct characters"
    return None


def hash_key(key: str) -> str:
    """The hex SHA-256 of a key: what the store keeps and what requests are matched against."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def key_from_header(value: str | None) -> str | None:
    """The key in an ``Authorization`` header value: raw, or after a ``Bearer`` scheme."""
    if not value:
        return None
    value = value.strip()
    scheme, _, rest = value.partition(" ")
    if scheme.lower() == "bearer":
        value = rest.strip()
    return value or None


class KeyRing:
    """The active keys of a store, cached and matched in constant time."""

    def __init__(self, store: Store, ttl: float) -> None:
        self._store = store
        self._ttl = ttl
        self._hashes: list[tuple[bytes, str]] | None = None
        self._loaded = 0.0
        self._lock = asyncio.Lock()

    async def _refresh(self) -> list[tuple[bytes, str]]:
        async with self._lock:
            if self._hashes is not None and self._fresh():
                return self._hashes
            try:
                found = await asyncio.to_thread(self._store.key_names_by_hash)
            except Exception:
                if self._hashes is None:
                    raise
                return self._hashes  # database down: the last known keys still identify clients
            self._hashes = [(h.encode(), name) for h, name in found.items()]
            self._loaded = time.monotonic()
            return self._hashes

    def _fresh(self) -> bool:
        return self._ttl > 0 and time.monotonic() - self._loaded < self._ttl

    async def name_of(self, key: str | None) -> str | None:
        """The name of the active key `key`, or None when it is missing, unknown or revoked.
        Raises StoreUnavailable when the keys cannot be read at all."""
        if not key:
            return None
        hashes = self._hashes if self._hashes is not None and self._fresh() else await self._refresh()
        wanted = hash_key(key).encode()
        found = None
        for candidate, name in hashes:
            if hmac.compare_digest(candidate, wanted):
                found = name
        return found
