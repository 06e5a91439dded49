"""The pseudonymisation secret: where it lives (a key file or an environment variable, never the
database), its fingerprint (what the database keeps, to detect a wrong secret) and the keyed
pseudonym itself."""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

from caliper_stream.errors import CaliperStreamError

#: Overrides the secret source recorded in the store (e.g. for a container's secret mount).
SECRET_ENV = "CALIPER_STREAM_PRIVACY_SECRET"
MIN_SECRET_BYTES = 16


class PrivacyError(CaliperStreamError):
    """The privacy configuration cannot be used (secret missing, wrong or too short)."""


def read_secret(source: str) -> bytes:
    """The secret named by `source`: ``file:/path`` or ``env:NAME`` ($CALIPER_STREAM_PRIVACY_SECRET
    first, when set)."""
    value = os.environ.get(SECRET_ENV)
    if value:
        secret = value.encode()
    elif source.startswith("env:"):
        name = source[4:]
        found = os.environ.get(name)
        if not found:
            raise PrivacyError(f"the pseudonymisation secret is expected in ${name}, which is not set")
        secret = found.encode()
    elif source.startswith("file:"):
        path = Path(source[5:])
        try:
            secret = path.read_bytes().strip()
        except OSError as exc:
            raise PrivacyError(f"cannot read the pseudonymisation secret file {path}: {exc.strerror}") from exc
    else:
        raise PrivacyError(f"unknown secret source {source!r} (expected file:PATH or env:NAME)")
    if len(secret) < MIN_SECRET_BYTES:
        raise PrivacyError(f"the pseudonymisation secret must be at least {MIN_SECRET_BYTES} bytes")
    return secret


def fingerprint(secret: bytes) -> str:
    """A value that identifies the secret without revealing it (kept in the database)."""
    return hmac.new(secret, b"caliper-stream secret fingerprint v1", hashlib.sha256).hexdigest()[:16]


class Pseudonym:
    """``p(value)``: 32 lowercase hex characters of HMAC-SHA256(secret, value), the shape of a
    Learn user uuid, so that IRIs and key-data columns keep their form. The same value gives the
    same pseudonym wherever it appears (an LTI ``user_id`` and the actor IRI's uuid agree)."""

    def __init__(self, secret: bytes) -> None:
        self._key = hmac.new(secret, b"caliper-stream pseudonym v1", hashlib.sha256).digest()
        self._memo: dict[str, str] = {}

    def __call__(self, value: str) -> str:
        found = self._memo.get(value)
        if found is None:
            found = hmac.new(self._key, value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:32]
            if len(self._memo) < 1_000_000:
                self._memo[value] = found
        return found
