"""Event keys as SQLite stores them: the 16 bytes a key's 32 lowercase hex digits spell, else the
text itself.

``event_key`` is in the table and in its unique index: 32 characters of hex in each are 16
bytes as a BLOB (docs/storage.md, "Times and keys"). Any other key (tests and tools may write
their own) stays text, so the rule is the same for the writer (`stored_key`) and migration 0016
(which calls it as the SQL function `STORED_KEY`), and a key is stored one way only: a
duplicate always meets its original in the unique index. ``event_view`` shows every key as text
again (`VIEW_FORMAT`); PostgreSQL keeps the text (``event_keys``' primary key and the month
partitions' deletes compare it).
"""

from __future__ import annotations

#: the SQL function migration 0016 converts stored keys with (`stored_key`, registered by the
#: store on its write connection)
STORED_KEY = "caliper_stored_key"

#: SQLite's expression that gives a stored key (``{0}``) back as text
VIEW_FORMAT = "CASE WHEN typeof({0}) = 'blob' THEN lower(hex({0})) ELSE {0} END"


def stored_key(key: str) -> bytes | str:
    """How SQLite stores `key`: 16 bytes when it is 32 lowercase hex digits, else itself."""
    if len(key) == 32:
        try:
            packed = bytes.fromhex(key)
        except ValueError:
            return key
        if packed.hex() == key:  # (fromhex also reads upper case and skips spaces)
            return packed
    return key


def key_text(stored: bytes | str) -> str:
    """The text of a stored key: `stored_key` undone."""
    return stored.hex() if isinstance(stored, bytes) else stored
