"""The exceptions caliper-stream raises, as one tree::

    CaliperStreamError
    ├── ReadError            the input cannot be opened or is not a Caliper payload at all
    ├── UnsupportedVersion   a dataVersion this build does not accept
    └── StoreError           the store failed
        └── StoreUnavailable the database cannot be reached or cannot commit (retry later)

Bad events are *not* exceptions: the reader and validator report them as `Problem` values so
that one bad event never costs its batch.
"""

from __future__ import annotations


class CaliperStreamError(Exception):
    """Base of every error raised on purpose by caliper-stream."""


class ReadError(CaliperStreamError):
    """The input cannot be read (missing file, bad gzip, not a Caliper payload)."""


class UnsupportedVersion(CaliperStreamError):
    """The payload declares a Caliper dataVersion this build does not accept."""


class StoreError(CaliperStreamError):
    """The store failed in a way that retrying will not fix."""


class StoreUnavailable(StoreError):
    """The database is unreachable or could not commit; the caller may retry later."""


class OutboxError(CaliperStreamError):
    """An outbox file that cannot be opened, or a file that is not an outbox."""
