"""API keys: one per Learn site or Caliper provider, its name recorded as each event's source.

Only a SHA-256 hash of a key is stored. Learn sends the key either raw (``Authorization:
<key>``, Blackboard's own convention) or as ``Authorization: Bearer <key>`` (the Caliper spec),
so both are accepted. The active hashes are cached for `Settings.key_cache_seconds` and compared
in constant time, so a request costs no database round trip and leaks no timing.

Guessing keys is throttled (`Throttle`): a client (IP address) that sent `limit` wrong keys
within `window` seconds is answered 429 with ``Retry-After`` until its oldest failure in the
window expires, before its key is even looked at; a right key never counts.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import math
import time
import uuid
from collections import Counter, OrderedDict, deque

from caliper_stream.store.base import ApiKey, Store


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
    """The active keys of a store (with their roles), cached and matched in constant time."""

    def __init__(self, store: Store, ttl: float) -> None:
        self._store = store
        self._ttl = ttl
        self._hashes: list[tuple[bytes, ApiKey]] | None = None
        self._loaded = 0.0
        self._lock = asyncio.Lock()

    async def _refresh(self) -> list[tuple[bytes, ApiKey]]:
        async with self._lock:
            if self._hashes is not None and self._fresh():
                return self._hashes
            try:
                found = await asyncio.to_thread(self._store.active_keys)
            except Exception:
                if self._hashes is None:
                    raise
                return self._hashes  # database down: the last known keys still identify clients
            self._hashes = [(k.key_hash.encode(), k) for k in found]
            self._loaded = time.monotonic()
            return self._hashes

    def _fresh(self) -> bool:
        return self._ttl > 0 and time.monotonic() - self._loaded < self._ttl

    async def name_of(self, key: str | None) -> str | None:
        """The name of the active key `key`, or None when it is missing, unknown or revoked.
        Raises StoreUnavailable when the keys cannot be read at all."""
        found = await self.lookup(key)
        return None if found is None else found.name

    async def lookup(self, key: str | None) -> ApiKey | None:
        """The active key `key` (name, role, identity right), or None."""
        return None if not key else await self.by_hash(hash_key(key))

    async def by_hash(self, key_hash: str) -> ApiKey | None:
        """The active key with this hash (a dashboard session holds the hash, never the key)."""
        hashes = self._hashes if self._hashes is not None and self._fresh() else await self._refresh()
        wanted = key_hash.encode()
        found = None
        for candidate, entry in hashes:
            if hmac.compare_digest(candidate, wanted):
                found = entry
        return found


class Throttle:
    """Wrong-key failures per client in a sliding window, in bounded memory (the clients with
    the oldest failures are forgotten first beyond `max_clients`)."""

    def __init__(self, limit: int, window: float, *, max_clients: int = 10_000) -> None:
        self.limit = limit
        self.window = window
        self.max_clients = max_clients
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, client: str, now: float) -> deque[float] | None:
        times = self._failures.get(client)
        if times is None:
            return None
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[client]
            return None
        return times

    def retry_after(self, client: str) -> int | None:
        """Seconds until `client` may try a key again, or None when it may now."""
        if self.limit <= 0:
            return None
        now = time.monotonic()
        times = self._recent(client, now)
        if times is None or len(times) < self.limit:
            return None
        return max(1, int(times[0] + self.window - now + 0.999))

    def failed(self, client: str) -> None:
        """Record one wrong key from `client`."""
        if self.limit <= 0:
            return
        now = time.monotonic()
        times = self._recent(client, now)
        if times is None:
            times = self._failures[client] = deque(maxlen=self.limit)
        times.append(now)
        self._failures.move_to_end(client)
        while len(self._failures) > self.max_clients:
            self._failures.popitem(last=False)
