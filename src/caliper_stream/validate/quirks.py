"""Consistency checks inside one event: deviations no schema catches, seen in Learn's payloads.

Learn refers to one entity from several places in an event and the copies do not always agree
(an AssessmentItem's ``isPartOf`` carries a mistyped site id while the Attempt's copy of the same
Assessment is right), and a Scala ``Option`` has leaked into some ids (``…/Some(_201_1)``). These
are reported as warnings in both modes: the event is still valid Caliper. So is Learn's 1.0 habit
of sending ``bb:group.users`` as a JSON-encoded string (extensions are free-form).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

from caliper_stream.problems import join
from caliper_stream.validate.checker import Finding
from caliper_stream.validate.values import parse_list
from caliper_stream.vocab import term

#: extension keys Learn fills with a JSON-encoded list (1.0)
LIST_EXTENSIONS: Final = frozenset({"bb:group.users"})


def _encoded_lists(value: Any, path: str) -> Iterator[Finding]:
    """Extensions Learn fills with a JSON-encoded list instead of a list (1.0 ``bb:group.users``)."""
    if isinstance(value, dict):
        extensions = value.get("extensions")
        if isinstance(extensions, dict):
            for key in LIST_EXTENSIONS & extensions.keys():
                item = extensions[key]
                if isinstance(item, str) and parse_list(item) is not None:
                    at = join(join(path, "extensions"), key)
                    yield Finding(at, "JSON encoded in a string where a list belongs", "advisory")
        for key, item in value.items():
            if key not in ("extensions", "@context"):
                yield from _encoded_lists(item, join(path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _encoded_lists(item, join(path, i))


def _entities(value: Any, path: str) -> Iterator[tuple[str, str, str]]:
    """(type, id, path) of every identified entity object inside `value` (extensions excluded)."""
    if isinstance(value, dict):
        kind = value.get("type", value.get("@type"))
        ident = value.get("id", value.get("@id"))
        if isinstance(kind, str) and isinstance(ident, str):
            yield term(kind), ident, path
        for key, item in value.items():
            if key not in ("extensions", "@context"):
                yield from _entities(item, join(path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _entities(item, join(path, i))


def _tail(iri: str, parts: int = 2) -> str:
    return "/".join(iri.rstrip("/").split("/")[-parts:])


def quirks(doc: Any, path: str) -> list[Finding]:
    """Ids that disagree for one entity, and ids with a leaked ``Some(…)``.

    Two entities of one type whose ids end alike (``…/assessments/_12345_1``) but differ are one
    entity told two ways; the id that fewer ids of the event build on (as a prefix) is the odd one.
    """
    found = list(_encoded_lists(doc, path))
    everything = list(_entities(doc, path))
    groups: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for kind, ident, at in everything:
        if "Some(" in ident:
            found.append(Finding(join(at, "id"), f"id embeds a Scala Option: {ident!r}", "advisory"))
        if "/" in ident:
            groups.setdefault((kind, _tail(ident)), []).append((ident, at))
    ids = [ident for _, ident, _ in everything]
    for (kind, _), members in groups.items():
        distinct = list(dict.fromkeys(ident for ident, _ in members))
        if len(distinct) < 2:
            continue
        support = {c: sum(1 for i in ids if i == c or i.startswith(c + "/")) for c in distinct}
        best = max(distinct, key=lambda c: support[c])
        for ident, at in members:
            if ident != best:
                found.append(
                    Finding(join(at, "id"), f"id {ident!r} disagrees with {best!r} for the same {kind}", "advisory")
                )
    return found
