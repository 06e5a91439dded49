"""Problems found in input: an error rejects an event, a warning records a tolerated deviation.

A problem names the event (its index in the input) and a JSON path such as
``data[3].object.maxScore`` so that an operator can find it in the payload.
"""

from __future__ import annotations

from typing import Literal

import msgspec

Severity = Literal["error", "warning"]


class Problem(msgspec.Struct, frozen=True, omit_defaults=True):
    """One error or warning about one event (or about the whole input when ``event`` is None)."""

    path: str
    message: str
    event: int | None = None
    severity: Severity = "error"

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


def join(prefix: str, key: str | int) -> str:
    """Extend a JSON path: ``join("data[3]", "object")`` → ``data[3].object``."""
    if isinstance(key, int):
        return f"{prefix}[{key}]"
    if not prefix:
        return key
    return f"{prefix}.{key}"


def warning(path: str, message: str, event: int | None = None) -> Problem:
    return Problem(path=path, message=message, event=event, severity="warning")


def error(path: str, message: str, event: int | None = None) -> Problem:
    return Problem(path=path, message=message, event=event, severity="error")
