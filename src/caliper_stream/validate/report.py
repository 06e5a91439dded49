"""Validating a whole input: the per-input counts the CLI prints, and every problem found.

Each piece of an input is one of three things: an *event* (accepted, or rejected when it has an
error), another Caliper *document* (an entity describe, an endpoint configuration payload: valid,
or invalid when it has an error), or an *unreadable* piece (not a JSON object at all: an empty
file, bytes that are not JSON). Unreadable pieces are not counted as events.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

import msgspec

from caliper_stream.event import Event, decode
from caliper_stream.problems import Problem
from caliper_stream.read import RawEvent
from caliper_stream.validate import documents
from caliper_stream.validate.validation import validate

_INDEX = re.compile(r"\[\d+\]")
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|-?\b\d+(?:\.\d+)?\b")


def kind_of(problem: Problem) -> str:
    """A problem without its particulars (indexes, quoted values, numbers): what it is an
    instance of, to count alike problems together (``data[*].id: event id is a bare UUID…``)."""
    return f"{_INDEX.sub('[*]', problem.path)}: {_QUOTED.sub('…', problem.message)}" if problem.path else _QUOTED.sub(
        "…", problem.message
    )


class Report(msgspec.Struct):
    """What validating one input found (see the module docstring for the three kinds of piece)."""

    source: str | None = None
    events: int = 0
    accepted: int = 0
    rejected: int = 0
    documents: int = 0
    invalid_documents: int = 0
    unreadable: int = 0
    errors: int = 0
    warnings: int = 0
    problems: list[Problem] = msgspec.field(default_factory=list)
    #: what each non-event document is ("an Agent entity"), in input order
    described: list[str] = msgspec.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.rejected == 0 and self.invalid_documents == 0 and self.unreadable == 0

    def add(self, problems: list[Problem], *, document: str | None = None, unreadable: bool = False) -> None:
        """Count one piece with its problems."""
        failed = sum(1 for p in problems if p.severity == "error")
        self.errors += failed
        self.warnings += len(problems) - failed
        self.problems.extend(problems)
        if unreadable:
            self.unreadable += 1
        elif document is not None:
            self.documents += 1
            self.described.append(document)
            self.invalid_documents += bool(failed)
        else:
            self.events += 1
            if failed:
                self.rejected += 1
            else:
                self.accepted += 1

    def warning_kinds(self) -> list[tuple[str, int, Problem]]:
        """Warnings counted by kind (`kind_of`), most frequent first, each with its first instance."""
        counts: Counter[str] = Counter()
        first: dict[str, Problem] = {}
        for p in self.problems:
            if p.severity == "warning":
                kind = kind_of(p)
                counts[kind] += 1
                first.setdefault(kind, p)
        return [(kind, n, first[kind]) for kind, n in counts.most_common()]


def validate_items(
    items: Iterable[RawEvent | Event], *, strict: bool = False, source: str | None = None
) -> Report:
    """Decode and validate every item of one input (what ``read`` yields for it)."""
    report = Report(source=source)
    for item in items:
        event = item if isinstance(item, Event) else decode(item)
        if report.source is None:
            report.source = event.source
        unreadable = event.version == "unknown" or (isinstance(item, RawEvent) and item.error is not None)
        problems = validate(event, strict=strict)
        named = described(event) if event.rejection is not None and not unreadable else None
        report.add(problems, document=named, unreadable=unreadable)
    return report


def described(event: Event) -> str | None:
    """What a rejected piece is when it is a Caliper document but not an event (else None)."""
    if not event.rejection or not event.rejection.message.startswith("not a Caliper event: missing"):
        return None
    try:
        return documents.what(event.json())
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
        return None
