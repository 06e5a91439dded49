"""Validating a whole input: the per-input counts the CLI prints, and every problem found."""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from caliper_stream.event import Event, decode
from caliper_stream.problems import Problem
from caliper_stream.read import RawEvent
from caliper_stream.validate.validation import validate


class Report(msgspec.Struct):
    """What validating one input found. An event is rejected when it has an error."""

    source: str | None = None
    events: int = 0
    accepted: int = 0
    rejected: int = 0
    errors: int = 0
    warnings: int = 0
    problems: list[Problem] = msgspec.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.rejected == 0

    def add(self, problems: list[Problem]) -> None:
        """Count one event with its problems."""
        failed = sum(1 for p in problems if p.severity == "error")
        self.events += 1
        self.errors += failed
        self.warnings += len(problems) - failed
        if failed:
            self.rejected += 1
        else:
            self.accepted += 1
        self.problems.extend(problems)


def validate_items(
    items: Iterable[RawEvent | Event], *, strict: bool = False, source: str | None = None
) -> Report:
    """Decode and validate every item of one input (what ``read`` yields for it)."""
    report = Report(source=source)
    for item in items:
        event = item if isinstance(item, Event) else decode(item)
        if report.source is None:
            report.source = event.source
        report.add(validate(event, strict=strict))
    return report
